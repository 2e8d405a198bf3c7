"""Coverage's fast path (only the deciding bulk records loaded) must equal a full load.

Random ledgers (SQLite and PostgreSQL) mix what makes the choice of the deciding
record delicate: several model versions, runs observed out of append order,
failing runs after passing ones, retractions and supersessions (of any kind,
often of the newest record), organisation-wide records, documents naming the
controls of ``explicit`` rules, approvals of evaluations, exceptions. Coverage,
the release gate and a forecast are compared, as JSON, at several ``as_of``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
import yaml

from controls import answers, service, state
from controls.approvals import decisions, load_policy
from controls.coverage import compute_coverage
from controls.deciding import plan_for
from controls.gate import release_gate
from controls.graph import ControlGraph, load_graph
from controls.state import load_system
from frameworks.schema import Control
from ledger.errors import InputError
from ledger.store import Ledger
from tests.controls.test_coverage import evaluation, iso, model_version, put

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
SYSTEM = "credit-scoring"
SUITES = ("fairness", "robustness", "safety", "performance")
DOC_TYPES = ("policy", "other", "data_sheet", "model_card", "release_checklist")
# Controls of explicit document rules in the default catalog, and of the test catalogs.
NAMED = ("DEV-SDLC-01", "DOC-DESIGN-01", "DATA-ACQ-01", "EVAL-FAIR-01", "EXPL-FAIR-01", "EXPL-DOC-01")


def _control(cid: str, evidence: dict) -> dict:
    return {"id": cid, "title": cid, "description": "test control", "owner": "RAI",
            "satisfies": ["nist-ai-rmf:MEASURE-2.11"], "evidence": evidence}


# An explicit rule on evaluations, combinators, a bound document rule and a max age.
EXPLICIT_CATALOG = [
    _control("EXPL-FAIR-01", {"kind": "evaluation", "filters": {"suite": "fairness"}, "explicit": True}),
    _control("EXPL-DOC-01", {"any_of": [
        {"kind": "document", "filters": {"doc_type": "policy"}, "explicit": True, "max_age_days": 2},
        {"kind": "evaluation", "filters": {"suite": "robustness", "passed": True}, "bound_to_model_version": False},
    ]}),
    _control("ALL-01", {"all_of": [
        {"kind": "evaluation", "filters": {"suite": "safety", "passed": True}},
        {"kind": "document", "filters": {"doc_type": "model_card"}, "bound_to_model_version": True},
    ]}),
]
# A document rule without a doc_type: documents are loaded in full, evaluations are not.
UNFILTERED_CATALOG = [
    _control("EXPL-DOC-01", {"kind": "document", "explicit": True}),
    _control("EVAL-FAIR-01", {"kind": "evaluation", "filters": {"suite": "fairness", "passed": False}}),
]


def _graph(tmp_path: Path, controls: list[dict] | None) -> ControlGraph:
    if controls is None:
        return load_graph(user_dir=None)
    folder = tmp_path / f"catalog-{len(controls)}"
    folder.mkdir()
    (folder / "controls.yaml").write_text(yaml.safe_dump({
        "format": "assure-controls/1", "catalog": {"id": "assure-default", "name": "test", "version": "1"},
        "controls": controls}))
    return load_graph(user_dir=folder)


def _random_record(rng: random.Random, i: int, hashes: list[tuple[str, str, str]], versions: list[str]) -> dict | None:
    received = T0 + i * H
    observed = received - rng.randrange(0, 48) * H  # out of append order
    system = rng.choice([SYSTEM, SYSTEM, "*"])  # organisation-wide: documents only
    named = rng.choice([[], [], [rng.choice(NAMED)], list(NAMED[:3])])
    own = [h for h in hashes if h[2] == SYSTEM and h[1] != "approval"]  # what an approval or retraction can name
    recent = [h for h, _, _ in (own[-4:] if rng.random() < 0.5 else own)]
    roll = rng.random()
    if roll < 0.08 or not versions:
        return model_version(f"1.{i}", received)
    if roll < 0.45:
        version = rng.choice([*versions, versions[-1], versions[-1]])
        rec = evaluation(rng.choice(SUITES), version, observed, passed=rng.random() < 0.7, system=SYSTEM)
        return rec | {"controls": named}
    if roll < 0.7:
        rec = {"kind": "document", "system": system, "observed_at": iso(observed),
               "doc_type": rng.choice(DOC_TYPES), "title": f"doc {i}", "controls": named}
        if rng.random() < 0.5 and system == SYSTEM:
            rec["model_version"] = rng.choice(versions)
        if rng.random() < 0.2:
            rec["valid_until"] = iso(received + rng.randrange(1, 100) * H)
        return rec
    if not recent:
        return None
    if roll < 0.78:
        return {"kind": "retract", "system": SYSTEM, "observed_at": iso(received), "target": rng.choice(recent),
                "reason": "test"}
    if roll < 0.87:  # a correction (of the same kind): an evaluation, or a model version
        evals = [h for h, kind, _ in hashes if kind == "evaluation"]
        olds = [h for h, kind, _ in hashes if kind == "model_version"]
        if olds and (rng.random() < 0.4 or not evals):
            return model_version(f"1.{i}", received) | {"supersedes": rng.choice(olds)}
        if not evals:
            return None
        return evaluation(rng.choice(SUITES), versions[-1], observed, system=SYSTEM) | {"supersedes": rng.choice(evals)}
    if roll < 0.97:
        return {"kind": "approval", "system": SYSTEM, "observed_at": iso(received), "target": rng.choice(recent),
                "decision": rng.choice(["approve", "approve", "reject"]),
                "controls": rng.choice([[], ["EVAL-INDEP-01"], ["REL-APPROVE-01", "OPS-CHANGE-01"]])}
    return {"kind": "exception", "system": SYSTEM, "observed_at": iso(received), "controls": rng.sample(NAMED, 2),
            "rationale": "test", "compensating_controls": ["OPS-MONITOR-01"], "owner": "Head of Risk",
            "expires_at": iso(received + rng.randrange(1, 80) * H), "remediation": "test"}


def _random_ledger(led: Ledger, keys, seed: int, n: int = 90) -> None:
    rng = random.Random(seed)
    hashes: list[tuple[str, str, str]] = []
    versions: list[str] = []
    for i in range(1, n):
        rec = _random_record(rng, i, hashes, versions)
        if rec is None:
            continue
        # Approvals mostly come in pairs: the policy wants two approvers for a high-risk system.
        signers = ([keys.approver, keys.approver2][: rng.choice([1, 2, 2])] if rec["kind"] == "approval"
                   else [keys.admin])
        for key in signers:
            try:
                (out,) = put(led, key, T0 + i * H, rec)
            except InputError:  # e.g. a second retraction of the same entry
                continue
            hashes.append((out.entry_hash, rec["kind"], rec["system"]))
        if rec["kind"] == "model_version":
            versions.append(rec["version"])


def _same(a, b) -> None:
    assert json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deciding_records_give_the_same_coverage_as_a_full_load(ledger, keys, tmp_path, monkeypatch, seed) -> None:
    monkeypatch.setattr(state, "_CHUNK", 3)  # the deciding records come in several IN lists
    _random_ledger(ledger, keys, seed)
    policy = load_policy()
    engine = ledger.engine
    for controls in (None, EXPLICIT_CATALOG, UNFILTERED_CATALOG):
        graph = _graph(tmp_path, controls)
        for when in (T0 + 30 * H, T0 + 61 * H, T0 + 100 * H):
            with engine.connect() as conn:
                full = load_system(conn, SYSTEM, as_of=when, policy=policy)
            fast = service.coverage(engine, SYSTEM, graph=graph, policy=policy, as_of=when)
            _same(fast, compute_coverage(graph, full, policy=policy, frameworks=[f.framework_id for f in fast.frameworks]))
            later = when + 30 * H
            _same(compute_coverage(graph, fast.view, policy=policy, at=later),
                  compute_coverage(graph, full, policy=policy, at=later))
            view = service.coverage_view(engine, SYSTEM, graph=graph, policy=policy, as_of=when)  # any version
            for mv in {v.model_version for v in full.model_versions}:
                assert mv is not None
                _same(compute_coverage(graph, view, policy=policy, model_version=mv),
                      compute_coverage(graph, full, policy=policy, model_version=mv))
                _same(release_gate(graph, view, model_version=mv, policy=policy),
                      release_gate(graph, full, model_version=mv, policy=policy))


def test_the_random_ledgers_reach_the_delicate_cases(ledger, keys) -> None:
    _random_ledger(ledger, keys, 2)  # one of the seeds the comparison above uses
    with ledger.engine.connect() as conn:
        full = load_system(conn, SYSTEM, as_of=T0 + 100 * H, policy=load_policy())
    evals = [e for e in full.by_hash.values() if e.kind == "evaluation"]
    bulk = ("evaluation", "document")
    assert len(full.model_versions) >= 3
    assert any(a.seq < b.seq and a.observed_at > b.observed_at for a in evals for b in evals)
    assert full.retracted and any(full.by_hash[h].kind not in bulk for h in full.superseded)
    assert any(e.system == "*" for e in full.of_kind("document")) and any(e.controls for e in full.of_kind("document"))
    approved = [d for d in decisions(full, policy=load_policy()) if d.status == "approved"]
    assert any(d.target.kind in bulk for d in approved)


def test_a_view_for_the_current_version_refuses_another(ledger, keys) -> None:
    put(ledger, keys.pipeline, T0 + H, model_version("1.0", T0 + H))
    put(ledger, keys.pipeline, T0 + 2 * H, model_version("2.0", T0 + 2 * H))
    graph, policy = load_graph(user_dir=None), load_policy()
    view = service.coverage_view(ledger.engine, SYSTEM, graph=graph, policy=policy, as_of=T0 + 3 * H,
                                 any_version=False)
    assert view.versions == {"2.0"}
    assert compute_coverage(graph, view, policy=policy).model_version == "2.0"
    with pytest.raises(ValueError, match="not '1.0'"):
        compute_coverage(graph, view, policy=policy, model_version="1.0")


def _ctl(cid: str, evidence: dict) -> Control:
    return Control.model_validate(_control(cid, evidence))


def test_plan_groups_by_subtype_and_by_control_for_explicit_rules() -> None:
    plan = plan_for([
        _ctl("A-01", {"kind": "evaluation", "filters": {"suite": "fairness", "passed": True}}),
        _ctl("B-01", {"kind": "document", "filters": {"doc_type": "policy"}, "explicit": True}),
        _ctl("C-01", {"kind": "risk_assessment"}),
    ])
    assert plan.kinds == {"evaluation", "document"}
    assert {(g.kind, g.subtype, g.control, g.unbound) for g in plan.groups} == {
        ("evaluation", "fairness", None, False), ("document", "policy", "B-01", True)}


@pytest.mark.parametrize("filters", [{"passed": True}, {"suite": "fairness", "model_version": "1.0"}])
def test_plan_loads_a_kind_in_full_when_a_rule_does_not_name_one_subtype(filters) -> None:
    plan = plan_for([_ctl("A-01", {"kind": "evaluation", "filters": filters}),
                     _ctl("B-01", {"kind": "document", "filters": {"doc_type": "policy"}})])
    assert plan.kinds == {"document"}
    assert all(g.kind == "document" for g in plan.groups)


def _two_systems(ledger, keys, seed: int) -> None:
    """A random ledger of SYSTEM, and another system with its own version, runs, a retraction
    and a correction, and an organisation-wide exception."""
    from tests.conftest import system_record

    put(ledger, keys.admin, T0, system_record("chatbot", risk_tier="low", eu_class="minimal", eu_role="deployer"))
    _random_ledger(ledger, keys, seed, n=70)
    mv = put(ledger, keys.pipeline, T0 + 71 * H, model_version("7.0", T0 + 71 * H, system="chatbot"))[0]
    runs = put(ledger, keys.pipeline, T0 + 72 * H, *[evaluation(s, "7.0", T0 + 72 * H, system="chatbot")
                                                     for s in ("fairness", "robustness")])
    put(ledger, keys.pipeline, T0 + 73 * H, {"kind": "retract", "system": "chatbot", "observed_at": iso(T0 + 73 * H),
                                             "target": runs[0].entry_hash, "reason": "test"},
        evaluation("robustness", "7.0", T0 + 73 * H, system="chatbot") | {"supersedes": runs[1].entry_hash})
    put(ledger, keys.approver, T0 + 74 * H, {"kind": "approval", "system": "chatbot", "observed_at": iso(T0 + 74 * H),
                                            "target": mv.entry_hash, "decision": "approve"})
    # An organisation-wide exception: every system's view holds it.
    put(ledger, keys.approver, T0 + 75 * H, {
        "kind": "exception", "system": "*", "observed_at": iso(T0 + 75 * H), "controls": ["GOV-POLICY-01"],
        "rationale": "test", "compensating_controls": ["OPS-MONITOR-01"], "owner": "Head of Risk",
        "expires_at": iso(T0 + 300 * H), "remediation": "test"})


@pytest.mark.parametrize("seed", [4, 5])
def test_many_systems_read_at_once_are_the_views_read_one_by_one(ledger, keys, monkeypatch, seed) -> None:
    monkeypatch.setattr(state, "_CHUNK", 2)  # the named records come in several IN lists
    _two_systems(ledger, keys, seed)
    policy, graph = load_policy(), load_graph(user_dir=None)
    plan = plan_for(graph.controls())
    for when in (T0 + 20 * H, T0 + 72 * H, T0 + 200 * H):
        with ledger.engine.connect() as conn:
            ids = state.system_ids(conn, as_of=when)
            together = state.load_systems(conn, ids, as_of=when, policy=policy, plan=plan)
            alone = [load_system(conn, s, as_of=when, policy=policy, plan=plan) for s in ids]
        assert [v.system for v in together] == ids
        assert together == alone
        assert service.coverage_views(ledger.engine, graph=graph, policy=policy, as_of=when) == alone


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_system_summaries_read_each_suites_last_run_and_equal_a_full_load(ledger, keys, seed) -> None:
    """``assure systems list|show`` (and /v1/systems) load no run but each suite's last in force."""
    _two_systems(ledger, keys, seed)
    policy, engine = load_policy(), ledger.engine
    withdrawn_last = False  # some suite's last run is retracted or superseded: the one before it is shown
    loaded = in_force = 0
    for when in (T0 + 20 * H, T0 + 50 * H, T0 + 72 * H, T0 + 200 * H):
        with engine.connect() as conn:
            ids = state.system_ids(conn, as_of=when)
            full = {s: load_system(conn, s, as_of=when, policy=policy) for s in ids}
        want = [service.system_summary(full[s]) for s in ids]
        assert answers.systems(engine, policy=policy, as_of=when) == want
        for s, summary in zip(ids, want, strict=True):
            view = service.summary_view(engine, s, as_of=when, policy=policy)
            assert service.system_summary(view) == summary
            loaded += len(view.of_kind("evaluation"))
            in_force += len(full[s].of_kind("evaluation"))
            runs = [e for e in full[s].by_hash.values() if e.kind == "evaluation"]
            last = {e.fields["suite"]: e for e in sorted(runs, key=lambda e: e.seq)}
            shown = {x["suite"]: x["seq"] for x in summary["latest_evaluations"]}
            withdrawn_last |= any(shown.get(suite) != e.seq for suite, e in last.items())
    assert withdrawn_last
    assert loaded < in_force  # the runs no one names are not read (a full load reads them all)
