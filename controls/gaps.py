"""Gaps: what is not covered, what evidence would close it, and what will lapse soon."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controls.approvals import ApprovalPolicy
from controls.coverage import ControlResult, CoverageReport, compute_coverage
from controls.graph import ControlGraph
from controls.incidents import DEADLINES, reporting_due
from controls.state import SystemView
from frameworks.penalties import Penalty, fine_tier
from frameworks.schema import AllOf, AnyOf, EvidenceRequirement, rule_leaves

GAP_STATUSES = ("missing", "stale", "failing", "partial", "needs_review")


def describe_rule(rule: EvidenceRequirement | AllOf | AnyOf, control_id: str) -> str:
    """A sentence saying which record(s) would satisfy an evidence rule."""
    if isinstance(rule, AllOf):
        return "all of: " + "; ".join(describe_rule(r, control_id) for r in rule.all_of)
    if isinstance(rule, AnyOf):
        return "any of: " + "; ".join(describe_rule(r, control_id) for r in rule.any_of)
    bits = [f"a '{rule.kind}' record"]
    if rule.filters:
        bits.append("with " + ", ".join(f"{k}: {v}" for k, v in rule.filters.items()))
    if rule.binds_model_version:
        bits.append("for the current model version")
    if rule.explicit:
        bits.append(f"listing {control_id} in 'controls'")
    if rule.max_age_days:
        bits.append(f"observed within {rule.max_age_days} days")
    return " ".join(bits)


@dataclass
class Gap:
    """One requirement that is not covered, or (in a forecast) will stop being covered.

    Attributes:
        lapses_on: for a forecast, the first day it is no longer covered.
        lapses_because: for a forecast, what lapses: ``{"control", "entry", "what"}``
            (``what``: ``valid_until``, ``max_age``, ``exception`` or ``reporting_deadline``:
            a serious incident still unreported when its reporting period ends).
        reason: why it has its status (see ``RequirementResult.reason``).
        penalty: for an EU AI Act provision, the fine its breach exposes the organisation to.
    """

    framework: str
    requirement: str
    title: str
    status: str
    controls: list[ControlResult]
    inferred: str | None
    reason: str = ""
    penalty: Penalty | None = None
    lapses_on: dt.date | None = None
    lapses_because: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "framework": self.framework,
            "requirement": self.requirement,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "inferred": self.inferred,
            "penalty": self.penalty.to_dict() if self.penalty else None,
            "lapses_on": self.lapses_on.isoformat() if self.lapses_on else None,
            "lapses_because": self.lapses_because,
            "to_close": [
                {"control": c.control.id, "status": c.status, "reason": c.reason,
                 "evidence_needed": describe_rule(c.control.evidence, c.control.id)}
                for c in self.controls if c.status not in ("covered", "excepted")
            ],
        }


def gaps(report: CoverageReport, graph: ControlGraph | None = None) -> list[Gap]:
    """Every applicable requirement that is missing, stale, failing, partial or needs review
    (with the fine it exposes the organisation to, when ``graph`` is given)."""
    return [
        Gap(fc.framework_id, r.node_id, r.title, r.status, r.controls, r.inferred, r.reason,
            _penalty(graph, r.node_id, report))
        for fc in report.frameworks
        for r in fc.requirements
        if r.status in GAP_STATUSES
    ]


def _penalty(graph: ControlGraph | None, node_id: str, report: CoverageReport) -> Penalty | None:
    if graph is None:
        return None
    return fine_tier(graph.requirement(node_id), eu_roles=report.view.eu_roles, eu_class=report.view.eu_class)


def forecast(
    graph: ControlGraph, view: SystemView, *, policy: ApprovalPolicy, frameworks: list[str] | None,
    window: dt.timedelta, now: CoverageReport | None = None,
) -> list[Gap]:
    """Requirements covered (or excepted) now that will not be by ``as_of + window``
    if no new evidence arrives (evidence ages out, exceptions expire), each with the
    day it lapses and what lapses.

    ``now`` is the coverage at ``view.as_of`` if the caller already has it.
    """
    now = now or compute_coverage(graph, view, policy=policy, frameworks=frameworks)
    end = view.as_of + window
    later = compute_coverage(graph, view, policy=policy, frameworks=frameworks, at=end)
    before = {r.node_id: r for fc in now.frameworks for r in fc.requirements}
    out = []
    for fc in later.frameworks:
        for r in fc.requirements:
            was = before.get(r.node_id)
            if was is None or was.status not in ("covered", "excepted") or r.status not in GAP_STATUSES:
                continue
            lapsing = [c for c in was.controls if later.controls.get(c.control.id, c).status not in ("covered",
                                                                                                  "excepted")]
            when, because = min((_lapse(c, view.as_of, end) for c in lapsing), key=lambda x: x[0],
                                default=(end.date(), None))
            out.append(Gap(fc.framework_id, r.node_id, r.title, r.status, r.controls, r.inferred, r.reason,
                           _penalty(graph, r.node_id, later), when, because))
    return sorted(out, key=lambda g: (g.lapses_on or dt.date.max, g.requirement))


def _lapse(c: ControlResult, start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dict[str, Any] | None]:
    """When a control covered at ``start`` stops being covered (within ``end``), and why."""
    found: list[tuple[dt.datetime, dict[str, Any]]] = []
    if c.exception is not None:
        found.append((c.exception.expires_at, {"control": c.control.id, "entry": c.exception.record.seq,
                                               "what": "exception"}))
    table = DEADLINES.get(c.control.reporting_deadlines or "")
    for e in c.evidence if table else []:
        due = reporting_due(e, table)
        if not due.reported:
            found.append((due.overdue_from, {"control": c.control.id, "entry": e.seq, "what": "reporting_deadline"}))
    ages = {leaf.kind: leaf.max_age_days for leaf in rule_leaves(c.control.evidence) if leaf.max_age_days}
    for e in c.evidence:
        if e.valid_until is not None:
            found.append((e.valid_until, {"control": c.control.id, "entry": e.seq, "what": "valid_until"}))
        if e.kind in ages:
            found.append((e.observed_at + dt.timedelta(days=ages[e.kind]),
                          {"control": c.control.id, "entry": e.seq, "what": "max_age"}))
    inside = [(t, why) for t, why in found if start < t <= end]
    if not inside:
        return end.date(), None
    t, why = min(inside, key=lambda x: x[0])
    return t.date(), why
