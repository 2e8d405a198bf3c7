"""Coverage, exceptions, approvals and as-of on a realistic ledger (SQLite and PostgreSQL).

Times are passed explicitly: ``now=`` at append is the ledger's received_at, and
coverage ``as_of`` reads the ledger as it stood then.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from controls import service
from controls.gate import release_gate
from ledger.store import Ledger
from tests.conftest import docs, eval_record, system_record

D = dt.timedelta(days=1)
H = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def put(led: Ledger, key, when: dt.datetime, *records: dict) -> list:
    return led.append(docs(*records), signing_key=key, now=when)


def model_version(version: str, when: dt.datetime, system: str = "credit-scoring") -> dict:
    return {"kind": "model_version", "system": system, "observed_at": iso(when), "version": version,
            "artifact_sha256": (version.encode().hex() * 64)[:64]}


def evaluation(suite: str, version: str, when: dt.datetime, passed: bool = True, system: str = "credit-scoring") -> dict:
    return eval_record(system=system, suite=suite, model_version=version, observed_at=iso(when), passed=passed)


def status_of(report, framework: str, req: str) -> str:
    return next(r.status for r in report.framework(framework).requirements if r.requirement_id == req)


def cov(led, graph, policy, when, system="credit-scoring"):
    return service.coverage(led.engine, system, graph=graph, policy=policy, as_of=when)


@pytest.fixture
def credit(ledger: Ledger, keys):
    """credit-scoring (high, Annex III, provider) with model 1.0 and a passing fairness run."""
    put(ledger, keys.pipeline, T0 + D, model_version("1.0", T0 + D))
    put(ledger, keys.pipeline, T0 + 2 * D, evaluation("fairness", "1.0", T0 + 2 * D))
    return ledger


def test_passing_evaluation_covers_its_control_and_requirement(credit, graph, policy) -> None:
    r = cov(credit, graph, policy, T0 + 3 * D)
    assert r.controls["EVAL-FAIR-01"].status == "covered"
    assert status_of(r, "nist-ai-rmf", "MEASURE-2.11") == "covered"
    assert [e.kind for e in r.controls["EVAL-FAIR-01"].evidence] == ["evaluation"]


def test_later_failing_run_is_not_hidden_by_earlier_pass(credit, keys, graph, policy) -> None:
    put(credit, keys.pipeline, T0 + 3 * D, evaluation("fairness", "1.0", T0 + 3 * D, passed=False))
    r = cov(credit, graph, policy, T0 + 4 * D)
    assert r.controls["EVAL-FAIR-01"].status == "failing"
    assert status_of(r, "nist-ai-rmf", "MEASURE-2.11") == "failing"


def test_new_model_version_makes_previous_evaluations_stale(credit, keys, graph, policy) -> None:
    put(credit, keys.pipeline, T0 + 3 * D, model_version("2.0", T0 + 3 * D))
    r = cov(credit, graph, policy, T0 + 4 * D)
    assert r.model_version == "2.0"
    assert r.controls["EVAL-FAIR-01"].status == "stale"
    assert "1.0" in r.controls["EVAL-FAIR-01"].reason


def test_retracted_evaluation_no_longer_covers(credit, keys, graph, policy) -> None:
    run = put(credit, keys.pipeline, T0 + 3 * D, evaluation("robustness", "1.0", T0 + 3 * D))[0]
    assert cov(credit, graph, policy, T0 + 4 * D).controls["EVAL-ROBUST-01"].status == "covered"
    put(credit, keys.pipeline, T0 + 5 * D, {"kind": "retract", "system": "credit-scoring", "observed_at": iso(T0 + 5 * D),
                                            "target": run.entry_hash, "reason": "wrong dataset"})
    assert cov(credit, graph, policy, T0 + 6 * D).controls["EVAL-ROBUST-01"].status == "missing"


def exception_record(when: dt.datetime, expires: dt.datetime) -> dict:
    return {"kind": "exception", "system": "credit-scoring", "observed_at": iso(when), "controls": ["EVAL-ROBUST-01"],
            "rationale": "noise regression accepted until retrain", "compensating_controls": ["OPS-MONITOR-01"],
            "owner": "Head of Risk", "expires_at": iso(expires), "remediation": "retrain with augmentation"}


def approve(target_hash: str, when: dt.datetime, decision: str = "approve") -> dict:
    return {"kind": "approval", "system": "credit-scoring", "observed_at": iso(when), "target": target_hash,
            "decision": decision}


def test_approved_exception_excepts_until_it_expires_then_falls_back(credit, keys, graph, policy) -> None:
    put(credit, keys.pipeline, T0 + 3 * D, evaluation("robustness", "1.0", T0 + 3 * D, passed=False))
    exc = put(credit, keys.admin, T0 + 4 * D, exception_record(T0 + 4 * D, T0 + 30 * D))[0]
    # High-risk system: the default policy needs two distinct approvers.
    put(credit, keys.approver, T0 + 5 * D, approve(exc.entry_hash, T0 + 5 * D))
    assert cov(credit, graph, policy, T0 + 6 * D).controls["EVAL-ROBUST-01"].status == "failing"
    put(credit, keys.approver2, T0 + 6 * D, approve(exc.entry_hash, T0 + 6 * D))
    r = cov(credit, graph, policy, T0 + 7 * D)
    assert r.controls["EVAL-ROBUST-01"].status == "excepted"
    # A.6.2.4 is also served by controls with no evidence here: excepted + missing = partial.
    assert status_of(r, "iso-42001", "A.6.2.4") == "partial"
    after = cov(credit, graph, policy, T0 + 31 * D)
    assert after.controls["EVAL-ROBUST-01"].status == "failing"
    assert status_of(after, "iso-42001", "A.6.2.4") == "failing"
    states = {x.record.seq: x.state for x in service.exceptions(credit.engine, as_of=T0 + 31 * D, policy=policy)}
    assert states[exc.seq] == "expired"


def test_exception_over_missing_evidence_flips_to_missing_at_expiry(credit, keys, graph, policy) -> None:
    exc = put(credit, keys.admin, T0 + 4 * D, exception_record(T0 + 4 * D, T0 + 10 * D))[0]
    put(credit, keys.approver, T0 + 5 * D, approve(exc.entry_hash, T0 + 5 * D))
    put(credit, keys.approver2, T0 + 5 * D + H, approve(exc.entry_hash, T0 + 5 * D + H))
    assert cov(credit, graph, policy, T0 + 9 * D).controls["EVAL-ROBUST-01"].status == "excepted"
    assert cov(credit, graph, policy, T0 + 11 * D).controls["EVAL-ROBUST-01"].status == "missing"


def test_self_approval_does_not_count(credit, keys, graph, policy) -> None:
    exc = put(credit, keys.approver, T0 + 4 * D, exception_record(T0 + 4 * D, T0 + 30 * D))[0]
    put(credit, keys.approver, T0 + 5 * D, approve(exc.entry_hash, T0 + 5 * D))  # the submitter itself
    put(credit, keys.approver2, T0 + 5 * D + H, approve(exc.entry_hash, T0 + 5 * D + H))
    items = service.exceptions(credit.engine, as_of=T0 + 6 * D, policy=policy)
    (x,) = [i for i in items if i.record.seq == exc.seq]
    assert x.state == "pending"
    assert len(x.decision.approvers) == 1
    assert "separation of duties" in x.decision.ignored[0][1]
    assert cov(credit, graph, policy, T0 + 6 * D).controls["EVAL-ROBUST-01"].status == "missing"


def test_limited_risk_system_is_not_held_to_high_risk_obligations(ledger, keys, graph, policy) -> None:
    put(ledger, keys.admin, T0, system_record("chatbot", risk_tier="medium", eu_class="limited", eu_role="deployer"))
    r = cov(ledger, graph, policy, dt.datetime(2028, 9, 1, tzinfo=dt.UTC), system="chatbot")
    eu = {x.requirement_id: x.status for x in r.framework("eu-ai-act").requirements}
    assert eu["Art-9.1"] == "not_applicable"
    assert eu["Art-26.1"] == "not_applicable"  # deployer duty, but only for high-risk systems
    assert eu["Art-50.3"] != "not_applicable"  # transparency duties of deployers do apply


def test_annex_iii_obligations_start_on_2_december_2027(ledger, graph, policy) -> None:
    before = cov(ledger, graph, policy, dt.datetime(2027, 12, 1, tzinfo=dt.UTC))
    after = cov(ledger, graph, policy, dt.datetime(2027, 12, 2, 12, tzinfo=dt.UTC))
    assert status_of(before, "eu-ai-act", "Art-9.1") == "not_applicable"
    assert status_of(after, "eu-ai-act", "Art-9.1") != "not_applicable"
    assert after.framework("eu-ai-act").applicable > before.framework("eu-ai-act").applicable


def test_as_of_reproduces_an_earlier_answer_exactly(credit, keys, graph, policy) -> None:
    when = T0 + 3 * D
    first = json.dumps(cov(credit, graph, policy, when).to_json(), sort_keys=True)
    put(credit, keys.pipeline, T0 + 4 * D, evaluation("fairness", "1.0", T0 + 4 * D, passed=False))
    put(credit, keys.pipeline, T0 + 4 * D, model_version("2.0", T0 + 4 * D))
    assert json.dumps(cov(credit, graph, policy, when).to_json(), sort_keys=True) == first
    assert cov(credit, graph, policy, T0 + 5 * D).controls["EVAL-FAIR-01"].status == "stale"


def test_gate_needs_release_approval_from_someone_else(credit, keys, graph, policy) -> None:
    view = service.system_view(credit.engine, "credit-scoring", as_of=T0 + 3 * D, policy=policy)
    verdict = release_gate(graph, view, model_version="1.0", policy=policy)
    assert not verdict.passed
    assert "EVAL-FAIR-01" not in verdict.missing_controls
    assert "EVAL-ROBUST-01" in verdict.missing_controls
    assert any("release approval pending: 0/2" in r for r in verdict.reasons)
    assert not release_gate(graph, view, model_version="9.9", policy=policy).passed


def test_coverage_percent_is_covered_plus_excepted_over_applicable(credit, graph, policy) -> None:
    r = cov(credit, graph, policy, T0 + 3 * D)
    for f in r.frameworks:
        c = f.counts
        assert f.applicable == sum(c.values()) - c["not_applicable"]
        assert f.percent == round(100 * (c["covered"] + c["excepted"]) / f.applicable, 1)


def test_as_of_equal_to_a_received_time_includes_that_record(credit, keys, graph, policy) -> None:
    when = T0 + 3 * D  # whole seconds: the case a text comparison on SQLite got wrong
    put(credit, keys.pipeline, when, evaluation("robustness", "1.0", T0 + 3 * D))
    assert cov(credit, graph, policy, when).controls["EVAL-ROBUST-01"].status == "covered"
    assert cov(credit, graph, policy, when - dt.timedelta(microseconds=1)).controls["EVAL-ROBUST-01"].status == "missing"
