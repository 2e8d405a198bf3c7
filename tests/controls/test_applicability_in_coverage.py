"""Obligations that apply to the right systems, on the right dates, with the reason shown (issue 12),
as coverage, gaps and the release gate report them for a ledger's systems."""

from __future__ import annotations

import datetime as dt

import pytest

from controls import gaps, service
from controls.approvals import load_policy
from controls.coverage import compute_coverage
from controls.gate import release_gate
from frameworks import vocab
from ledger.errors import InputError
from ledger.records import SystemFacts
from ledger.store import Ledger
from tests.conftest import T0, docs, eval_record, system_record

D = dt.timedelta(days=1)
NOW = T0 + 3 * D
CREDIT_FACTS = {"annex_iii_area": "5b", "decides_about_persons": True, "interacts_with_persons": False,
                "generates_synthetic_content": False, "emotion_recognition": False,
                "biometric_categorisation": False, "remote_biometric_identification": False, "deep_fake": False,
                "published_ai_text": False, "non_eu_provider": False}


def _coverage(led: Ledger, graph, system: str = "credit-scoring", when: dt.datetime = NOW, horizon: int | None = None):
    return service.coverage(led.engine, system, graph=graph, policy=load_policy(), as_of=when, horizon_days=horizon)


def _req(report, node: str):
    return report.requirements[node]


def test_the_record_and_the_vocabulary_name_the_same_facts() -> None:
    assert set(SystemFacts.model_fields) == set(vocab.FACTS)


def test_a_condition_on_an_unstated_fact_needs_review_never_silently_not_applicable(ledger: Ledger, keys,
                                                                                    graph) -> None:
    report = _coverage(ledger, graph)  # the fixture's system states no facts
    art_50_1 = _req(report, "eu-ai-act:Art-50.1")
    assert art_50_1.status == "needs_review"
    assert "interacts_with_persons" in art_50_1.missing_facts and "interacts_with_persons" in art_50_1.reason
    # Stating facts changes the classification: it takes effect once two approvers approve it.
    ledger.append(docs(system_record(facts=CREDIT_FACTS, observed_at="2026-11-02T09:00:00Z")),
                  signing_key=keys.admin, now=T0 + D)
    assert _req(_coverage(ledger, graph), "eu-ai-act:Art-50.1").status == "needs_review"
    for key in (keys.approver, keys.approver2):
        ledger.append(docs({"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T10:00:00Z",
                            "target": _last_hash(ledger, "system"), "decision": "approve"}),
                      signing_key=key, now=T0 + 2 * D)
    art_50_1 = _req(_coverage(ledger, graph), "eu-ai-act:Art-50.1")
    assert art_50_1.status == "not_applicable" and "interacts_with_persons" in art_50_1.reason


def test_annex_iii_obligations_are_upcoming_with_their_date_within_the_horizon(ledger: Ledger, graph) -> None:
    report = _coverage(ledger, graph, horizon=400)
    art_9 = _req(report, "eu-ai-act:Art-9.1")
    assert art_9.status == "upcoming" and art_9.applies_from == dt.date(2027, 12, 2)
    assert art_9.reason.startswith("applies from 2027-12-02")
    assert "Art-9.1" in {r.requirement_id for r in report.framework("eu-ai-act").upcoming}
    assert _req(_coverage(ledger, graph), "eu-ai-act:Art-9.1").status == "not_applicable"
    fw = report.framework("eu-ai-act")
    assert fw.applicable == sum(fw.counts.values()) - fw.counts["not_applicable"] - fw.counts["upcoming"]


def test_every_status_has_a_reason_and_no_internal_ids(ledger: Ledger, keys, graph) -> None:
    ledger.append(docs(eval_record(observed_at="2026-11-02T09:00:00Z", suite="robustness", passed=False)),
                  signing_key=keys.pipeline, now=NOW)
    report = _coverage(ledger, graph, horizon=365)
    for fw in report.frameworks:
        for r in fw.requirements:
            assert r.reason, (r.node_id, r.status)
            assert ".orig" not in r.reason
    assert "EVAL-ROBUST-01 failing" in _req(report, "nist-ai-rmf:MEASURE-2.5").reason


def test_the_gate_never_blocks_on_obligations_that_start_later(ledger: Ledger, keys, graph) -> None:
    report = _coverage(ledger, graph)
    view = service.coverage_view(ledger.engine, "credit-scoring", graph=graph, policy=load_policy(), as_of=NOW)
    verdict = release_gate(graph, view, model_version="2.1.0", policy=load_policy())
    blockers = " ".join(verdict.reasons)
    for control in ("EU-CONF-01", "EU-ID-01"):  # CE marking, provider identification: from 2027-12-02
        assert control not in blockers
        assert any(n.startswith(control) and "applies from 2027-12-02" in n for n in verdict.notes)
    assert report.controls["EU-CONF-01"].status in ("missing", "partial")  # still shown as a gap to prepare


def test_a_counted_release_approval_covers_the_release_control_and_everything_agrees(ledger: Ledger, keys,
                                                                                    graph) -> None:
    mv = _last_hash(ledger, "model_version")
    for key in (keys.approver, keys.approver2):
        ledger.append(docs({"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T10:00:00Z",
                            "target": mv, "decision": "approve"}), signing_key=key, now=NOW)
    policy = load_policy()
    view = service.coverage_view(ledger.engine, "credit-scoring", graph=graph, policy=policy, as_of=NOW + D)
    report = compute_coverage(graph, view, policy=policy, model_version="2.1.0")
    verdict = release_gate(graph, view, model_version="2.1.0", policy=policy, report=report)
    assert verdict.approval is not None and verdict.approval.status == "approved"
    assert report.controls["REL-APPROVE-01"].status == "covered"  # no control id named in the approvals
    listed = {g.requirement for g in gaps.gaps(report)}
    for fw in report.frameworks:  # gaps lists exactly the requirements coverage calls gaps
        for r in fw.requirements:
            assert (r.node_id in listed) == (r.status in gaps.GAP_STATUSES)
    for c in verdict.controls:  # and the gate reads the controls as coverage does
        assert c.status == report.controls[c.control.id].status


def _last_hash(ledger: Ledger, kind: str) -> str:
    return [r for r in ledger.iter_records(kind=kind)][-1]["entry_hash"]


def test_a_profile_is_not_assessed(ledger: Ledger, graph) -> None:
    with pytest.raises(InputError, match="'nist-ai-600-1' is a profile of nist-ai-rmf"):
        service.coverage(ledger.engine, "credit-scoring", graph=graph, policy=load_policy(), as_of=NOW,
                         frameworks=["nist-ai-600-1"])
    assert "nist-ai-600-1" not in service.default_frameworks(graph)


def test_inference_through_a_doubted_crosswalk_edge_is_at_most_partial(ledger: Ledger, graph) -> None:
    report = _coverage(ledger, graph)
    doubted = [v for fw in report.frameworks for r in fw.requirements for v in r.inferred_via if v["needs_review"]]
    for fw in report.frameworks:
        for r in fw.requirements:
            if r.inferred == "covered":
                assert any(not v["needs_review"] and v["relation"] in ("equivalent", "subset")
                           for v in r.inferred_via), r.node_id
    assert doubted is not None


def test_gaps_name_the_fine_an_eu_gap_exposes_to(ledger: Ledger, graph) -> None:
    report = _coverage(ledger, graph, when=dt.datetime(2028, 1, 10, tzinfo=dt.UTC))
    found = {g.requirement: g for g in gaps.gaps(report, graph)}
    art_9 = found["eu-ai-act:Art-9.1"]
    assert art_9.penalty is not None and art_9.penalty.reference.startswith("Art 99(4)")
    assert found["nist-ai-rmf:GOVERN-1.1"].penalty is None
