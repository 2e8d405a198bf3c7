"""Governance KPIs a Responsible-AI lead reports (practice.md section 3.6).

All figures come from the ledger as of one moment, through the same coverage
engine GRC staff use, so a KPI and the coverage table behind it never disagree.
Ratios are reported with their numerator and denominator; a ratio with an empty
denominator is ``None`` (not 0 % and not 100 %).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from typing import Any

from controls.approvals import ApprovalPolicy, decide
from controls.coverage import CoverageReport, compute_coverage
from controls.exceptions import exception_statuses
from controls.gate import release_gate
from controls.graph import ControlGraph
from controls.state import SystemView
from frameworks.schema import rule_leaves
from ledger.timeutil import format_timestamp

PIPELINE_ROLES = frozenset({"pipeline"})


def ratio(num: int, den: int) -> dict[str, Any]:
    """``{"value": percent, "numerator", "denominator"}``; value None when den is 0."""
    return {"value": round(100.0 * num / den, 1) if den else None, "numerator": num, "denominator": den}


def _is_evaluation_control(report: CoverageReport, control_id: str) -> bool:
    return any(leaf.kind == "evaluation" for leaf in rule_leaves(report.controls[control_id].control.evidence))


def compute_kpis(
    graph: ControlGraph, views: list[SystemView], *, policy: ApprovalPolicy, frameworks: list[str],
    signer_roles: Counter[str], expiring_window: dt.timedelta = dt.timedelta(days=30),
    as_of: dt.datetime | None = None,
) -> dict[str, Any]:
    """Every KPI for the given systems (their views share one ``as_of``).

    Args:
        graph: frameworks and controls.
        views: one view per system (coverage views are enough).
        policy: the approval policy.
        frameworks: frameworks for the coverage figures.
        signer_roles: evidence records per signer role (for the automation ratio).
        expiring_window: what "expiring soon" means.
        as_of: the moment the figures describe (default: the views', else now).
    """
    as_of = views[0].as_of if views else (as_of or dt.datetime.now(dt.UTC))
    reports = {v.system: compute_coverage(graph, v, policy=policy, frameworks=frameworks) for v in views}
    out: dict[str, Any] = {"as_of": format_timestamp(as_of), "systems": len(views)}

    out["evidence_coverage"] = {
        s: {f.framework_id: f.percent for f in r.frameworks} for s, r in reports.items()
    }
    out["evaluation_coverage_by_tier"] = _evaluation_by_tier(views, reports)
    out["documentation_coverage"] = _documentation(views)
    fresh = Counter(c.status for r in reports.values() for c in r.controls.values() if c.evidence)
    out["evidence_freshness"] = ratio(sum(fresh.values()) - fresh["stale"], sum(fresh.values()))
    automated = sum(n for role, n in signer_roles.items() if role in PIPELINE_ROLES)
    out["control_automation_ratio"] = ratio(automated, sum(signer_roles.values()))
    applicable = sum(len(r.controls) for r in reports.values())
    excepted = sum(c.status == "excepted" for r in reports.values() for c in r.controls.values())
    out["exception_rate"] = ratio(excepted, applicable)
    out["exceptions"] = _exceptions(views, policy, as_of, expiring_window)
    out["median_hours_model_version_to_release_approval"] = _time_to_approval(views, policy)
    verdicts = [release_gate(graph, v, model_version=v.current_model_version, policy=policy, report=reports[v.system])
                for v in views if v.current_model_version]
    out["gate_pass_rate"] = ratio(sum(v.passed for v in verdicts), len(verdicts))
    return out


def _evaluation_by_tier(views: list[SystemView], reports: dict[str, CoverageReport]) -> dict[str, Any]:
    covered: Counter[str] = Counter()
    required: Counter[str] = Counter()
    for v in views:
        r = reports[v.system]
        for cid, c in r.controls.items():
            if _is_evaluation_control(r, cid):
                required[v.risk_tier] += 1
                covered[v.risk_tier] += c.status in ("covered", "excepted")
    return {tier: ratio(covered[tier], required[tier]) for tier in ("high", "medium", "low")}


def _documentation(views: list[SystemView]) -> dict[str, Any]:
    """High-risk systems with a model card for their current model version."""
    high = [v for v in views if v.risk_tier == "high"]
    with_card = 0
    for v in high:
        cards = [e for e in v.of_kind("document") if e.fields.get("doc_type") == "model_card"
                 and e.system == v.system and e.model_version in (None, v.current_model_version)]
        with_card += bool(cards)
    return ratio(with_card, len(high))


def _exceptions(views: list[SystemView], policy: ApprovalPolicy, as_of: dt.datetime, window: dt.timedelta) -> dict[str, Any]:
    items = [x for v in views for x in exception_statuses(v, policy=policy)]
    states = Counter(x.state for x in items)
    open_ages = [(as_of - x.record.observed_at).days for x in items if x.state in ("active", "pending")]
    buckets: defaultdict[str, int] = defaultdict(int)
    for age in open_ages:
        buckets["0-30d" if age <= 30 else "31-90d" if age <= 90 else ">90d"] += 1
    return {
        "active": states["active"],
        "pending": states["pending"],
        "expired": states["expired"],
        "rejected": states["rejected"],
        "expiring_within_days": {"days": window.days, "count": sum(
            x.expiring_within(window) for x in items)},
        "open_age_days_median": statistics.median(open_ages) if open_ages else None,
        "open_age_buckets": dict(buckets),
    }


def _time_to_approval(views: list[SystemView], policy: ApprovalPolicy) -> float | None:
    hours = []
    for v in views:
        for mv in v.model_versions:
            d = decide(mv, v.of_kind("approval"), tier=v.risk_tier, policy=policy)
            if d.status == "approved":
                # Business time: when the deciding approval was given, from when the version was built.
                decisive = d.approvers[d.required - 1]
                hours.append((decisive.observed_at - mv.observed_at).total_seconds() / 3600)
    return round(statistics.median(hours), 1) if hours else None
