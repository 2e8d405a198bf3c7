"""Gaps: what is not covered, what evidence would close it, and what will lapse soon."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controls.approvals import ApprovalPolicy
from controls.coverage import ControlResult, CoverageReport, compute_coverage
from controls.graph import ControlGraph
from controls.state import SystemView
from frameworks.schema import AllOf, AnyOf, EvidenceRequirement

GAP_STATUSES = ("missing", "stale", "failing", "partial")


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
    """One requirement that is not covered."""

    framework: str
    requirement: str
    title: str
    status: str
    controls: list[ControlResult]
    inferred: str | None
    lapses_at: str | None = None  # for forecasts: "covered now, <status> by the window's end"

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "framework": self.framework,
            "requirement": self.requirement,
            "title": self.title,
            "status": self.status,
            "inferred": self.inferred,
            "forecast": self.lapses_at,
            "to_close": [
                {"control": c.control.id, "status": c.status, "reason": c.reason,
                 "evidence_needed": describe_rule(c.control.evidence, c.control.id)}
                for c in self.controls if c.status not in ("covered", "excepted")
            ],
        }


def gaps(report: CoverageReport) -> list[Gap]:
    """Every applicable requirement that is missing, stale, failing or partial."""
    return [
        Gap(fc.framework_id, r.node_id, r.title, r.status, r.controls, r.inferred)
        for fc in report.frameworks
        for r in fc.requirements
        if r.status in GAP_STATUSES
    ]


def forecast(
    graph: ControlGraph, view: SystemView, *, policy: ApprovalPolicy, frameworks: list[str] | None,
    window: dt.timedelta, now: CoverageReport | None = None,
) -> list[Gap]:
    """Requirements covered (or excepted) now that will not be by ``as_of + window``
    if no new evidence arrives: evidence ages out, exceptions expire.

    ``now`` is the coverage at ``view.as_of`` if the caller already has it.
    """
    now = now or compute_coverage(graph, view, policy=policy, frameworks=frameworks)
    later = compute_coverage(graph, view, policy=policy, frameworks=frameworks, at=view.as_of + window)
    status_now = {r.node_id: r.status for fc in now.frameworks for r in fc.requirements}
    out = []
    for fc in later.frameworks:
        for r in fc.requirements:
            if status_now.get(r.node_id) in ("covered", "excepted") and r.status in GAP_STATUSES:
                out.append(Gap(fc.framework_id, r.node_id, r.title, r.status, r.controls, r.inferred,
                               lapses_at=f"{status_now[r.node_id]} now, {r.status} by "
                                         f"{(view.as_of + window):%Y-%m-%d}"))
    return out
