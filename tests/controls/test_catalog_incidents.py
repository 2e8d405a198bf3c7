"""Serious incidents and the Art 73 reporting deadlines (issue 12, control catalog): the incident
records' own dates decide EU-INCIDENT-01, on the right day, for a high-risk system."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from controls import gaps, service
from controls.approvals import load_policy
from controls.graph import load_graph
from controls.incidents import ART_73, DEADLINES
from frameworks.schema import Control
from ledger.errors import InputError
from ledger.record_rules import record_problem
from ledger.records import parse_record, record_bytes
from ledger.store import Ledger
from tests.conftest import docs

D = dt.timedelta(days=1)
AWARE = dt.datetime(2028, 3, 1, 10, 0, tzinfo=dt.UTC)  # Art 73 binds the Annex III system from 2027-12-02
SYSTEM = "credit-scoring"
CONTROL = "EU-INCIDENT-01"
ART_73_NODES = ("eu-ai-act:Art-73.1", "eu-ai-act:Art-73.2", "eu-ai-act:Art-73.3", "eu-ai-act:Art-73.4")


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def incident(**over: Any) -> dict[str, Any]:
    rec = {"kind": "incident", "system": SYSTEM, "observed_at": iso(AWARE + dt.timedelta(hours=2)),
           "title": "Scores withheld from applicants", "severity": "high", "status": "open", "serious": True,
           "aware_at": iso(AWARE), "model_version": "2.1.0"}
    return {k: v for k, v in (rec | over).items() if v is not None}


def append(ledger: Ledger, keys, record: dict[str, Any], *, key=None) -> int:
    observed = dt.datetime.fromisoformat(record["observed_at"])
    return ledger.append(docs(record), signing_key=key or keys.pipeline, now=observed)[0].seq


def coverage(ledger: Ledger, graph, when: dt.datetime):
    return service.coverage(ledger.engine, SYSTEM, graph=graph, policy=load_policy(), as_of=when)


# (impact, days after the day of awareness, Art 73 paragraph)
CASES = [
    ("widespread", 2, "Art 73(3)"),
    ("critical_infrastructure", 2, "Art 73(3)"),
    ("death", 10, "Art 73(4)"),
    ("other", 15, "Art 73(2)"),
    (None, 15, "Art 73(2)"),
]


@pytest.mark.parametrize(("impact", "days", "basis"), CASES, ids=[str(c[0]) for c in CASES])
def test_an_unreported_serious_incident_fails_the_day_after_its_deadline(ledger: Ledger, keys, graph, impact, days,
                                                                        basis) -> None:
    seq = append(ledger, keys, incident(impact=impact))
    due = (AWARE + days * D).date()
    last_moment = dt.datetime.combine(due, dt.time(23, 59, 59), tzinfo=dt.UTC)

    in_time = coverage(ledger, graph, last_moment)
    assert in_time.controls[CONTROL].status == "covered"
    assert f"entry {seq} (Scores withheld from applicants): report due by {due}" in in_time.controls[CONTROL].reason

    late = coverage(ledger, graph, last_moment + dt.timedelta(seconds=1))
    result = late.controls[CONTROL]
    assert result.status == "failing"
    assert f"serious incident entry {seq}" in result.reason and "not reported" in result.reason
    assert f"by {due.isoformat()}" in result.reason and basis in result.reason
    assert [e.seq for e in result.evidence] == [seq]
    for node in ART_73_NODES:
        assert late.requirements[node].status == "failing", node
        assert CONTROL in late.requirements[node].reason


@pytest.mark.parametrize(("impact", "days", "basis"), CASES, ids=[str(c[0]) for c in CASES])
def test_a_report_on_the_last_day_keeps_it_covered(ledger: Ledger, keys, graph, impact, days, basis) -> None:
    reported = AWARE.replace(hour=20) + days * D
    seq = append(ledger, keys, incident(impact=impact, reported_to_authority=True, reported_at=iso(reported),
                                        observed_at=iso(reported + dt.timedelta(hours=1))))
    result = coverage(ledger, graph, AWARE + 60 * D).controls[CONTROL]
    assert result.status == "covered"
    assert f"entry {seq}" in result.reason and f"reported on {reported.date()}" in result.reason
    assert "late" not in result.reason and basis in result.reason


def test_a_late_report_is_covered_and_named_late(ledger: Ledger, keys, graph) -> None:
    reported = AWARE + 12 * D  # a death: due by the 10th day after awareness
    append(ledger, keys, incident(impact="death", reported_to_authority=True, reported_at=iso(reported),
                                  observed_at=iso(reported)))
    result = coverage(ledger, graph, AWARE + 30 * D).controls[CONTROL]
    assert result.status == "covered"  # reported: nothing is outstanding, but the breach stays visible
    assert f"reported late on {reported.date()} (due by {(AWARE + 10 * D).date()}" in result.reason


def test_with_no_serious_incident_it_is_covered_and_says_so(ledger: Ledger, keys, graph) -> None:
    append(ledger, keys, incident(serious=None, aware_at=None, title="Minor drift"))  # not serious: no deadline
    result = coverage(ledger, graph, AWARE + 60 * D).controls[CONTROL]
    assert (result.status, result.reason, result.evidence) == ("covered", "no serious incident recorded", [])
    description = graph.control(CONTROL).description  # says what "covered" means with no incident
    assert "covered otherwise" in description and "when none is recorded" in description


def test_without_aware_at_the_period_runs_from_observed_at(ledger: Ledger, keys, graph) -> None:
    observed = AWARE + 3 * D
    append(ledger, keys, incident(impact="widespread", aware_at=None, observed_at=iso(observed)))
    assert coverage(ledger, graph, observed + 2 * D).controls[CONTROL].status == "covered"
    result = coverage(ledger, graph, observed + 3 * D).controls[CONTROL]
    assert result.status == "failing" and "aware_at not stated" in result.reason


def test_a_report_recorded_as_a_correction_counts_once_approved(ledger: Ledger, keys, graph) -> None:
    seq = append(ledger, keys, incident(impact="widespread"))
    target = next(r for r in ledger.iter_records(kind="incident") if r["seq"] == seq)["entry_hash"]
    reported = AWARE + D
    fix = append(ledger, keys, incident(impact="widespread", reported_to_authority=True, reported_at=iso(reported),
                                        observed_at=iso(reported), supersedes=target))
    pending = coverage(ledger, graph, AWARE + 5 * D).controls[CONTROL]
    assert pending.status == "failing"  # withdrawing an incident needs approval: the unreported one stands
    assert f"serious incident entry {seq}" in pending.reason and f"entry {fix}" in pending.reason
    fix_hash = next(r for r in ledger.iter_records(kind="incident") if r["seq"] == fix)["entry_hash"]
    for key in (keys.approver, keys.approver2):
        append(ledger, keys, {"kind": "approval", "system": SYSTEM, "observed_at": iso(AWARE + 5 * D),
                              "target": fix_hash, "decision": "approve"}, key=key)
    approved = coverage(ledger, graph, AWARE + 6 * D).controls[CONTROL]
    assert approved.status == "covered" and f"entry {fix}" in approved.reason


def test_the_forecast_names_the_day_a_report_falls_due(ledger: Ledger, keys, graph) -> None:
    seq = append(ledger, keys, incident(impact="critical_infrastructure", severity="low"))
    policy = load_policy()
    early = service.system_view(ledger.engine, SYSTEM, as_of=AWARE + dt.timedelta(hours=3), policy=policy)
    lapsing = {g.requirement: g for g in gaps.forecast(graph, early, policy=policy, frameworks=["eu-ai-act"],
                                                       window=10 * D)}
    gap = lapsing["eu-ai-act:Art-73.3"]
    assert gap.lapses_on == (AWARE + 3 * D).date()  # the first day it is late
    assert gap.lapses_because == {"control": CONTROL, "entry": seq, "what": "reporting_deadline"}


# --- the records and the catalog ---------------------------------------------------------------


def test_old_incident_records_parse_to_the_same_bytes() -> None:
    old = {"kind": "incident", "system": SYSTEM, "observed_at": "2026-11-02T09:00:00Z", "title": "t",
           "severity": "critical", "status": "open", "reported_to_authority": True}
    assert json.loads(record_bytes(parse_record(old))) == old


@pytest.mark.parametrize(("over", "message"), [
    ({"serious": None, "impact": "death"}, "impact 'death' makes it a serious incident"),
    ({"reported_at": iso(AWARE + D), "observed_at": iso(AWARE + 2 * D)}, "reported_to_authority must be true"),
    ({"aware_at": iso(AWARE + D)}, "aware_at must not be after observed_at"),
    ({"reported_to_authority": True, "reported_at": iso(AWARE + 3 * D)}, "reported_at must not be after observed_at"),
    ({"reported_to_authority": True, "reported_at": iso(AWARE - D)}, "reported_at must not be before aware_at"),
], ids=["death-not-serious", "date-without-flag", "aware-after-observed", "report-after-observed",
        "report-before-aware"])
def test_contradictory_reporting_fields_are_refused_at_append_and_by_verify(over, message) -> None:
    bad = incident(**over)
    with pytest.raises(InputError, match=message):
        parse_record(bad)
    assert message in record_problem(bad)[1]


def test_the_deadline_table_is_the_catalog_s_and_the_law_s() -> None:
    assert {k: (d.days, d.basis) for k, d in ART_73.items()} == {
        "widespread": (2, "Art 73(3)"), "critical_infrastructure": (2, "Art 73(3)"), "death": (10, "Art 73(4)"),
        "other": (15, "Art 73(2)")}
    control = load_graph().control(CONTROL)
    assert control.reporting_deadlines in DEADLINES
    assert {r.id for r in load_graph().requirements_for(CONTROL)} == {"Art-73.1", "Art-73.2", "Art-73.3", "Art-73.4"}
    assert load_graph().control("OPS-INCIDENT-01").open_incidents_fail == ["high", "critical"]


def test_a_deadline_control_needs_one_incident_leaf() -> None:
    base = {"id": "X-01", "title": "x", "description": "x", "owner": "x", "satisfies": ["a:b"],
            "reporting_deadlines": "eu-ai-act-art-73"}
    Control.model_validate(base | {"evidence": {"kind": "incident", "filters": {"serious": True}}})
    with pytest.raises(ValueError, match="one incident leaf"):
        Control.model_validate(base | {"evidence": {"kind": "document"}})
    with pytest.raises(ValueError, match="drop max_age_days"):
        Control.model_validate(base | {"evidence": {"kind": "incident", "max_age_days": 30}})
