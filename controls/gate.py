"""The release gate a CI pipeline calls before shipping a model version.

A version passes when (1) it is registered for the system, (2) every applicable
control whose evidence is bound to a model version (the per-release controls:
evaluations, model cards, …) and that serves at least one requirement binding
the system on the day is covered by evidence for *that* version or by an
active exception (one whose requirements all start later is a warning with
their date), (3) no open high or critical incident names that version,
unless an active exception waives the incident-management control, and (4) its
release approval meets the approval policy. The classification in force decides
(a pending reclassification is reported, never applied). The verdict can be
signed as an in-toto Statement in a DSSE envelope so a deploy job checks a
signature instead of trusting a log line (:mod:`controls.gate_statement`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from controls.approvals import ApprovalPolicy, Decision
from controls.coverage import (
    NOT_BINDING,
    ControlResult,
    CoverageReport,
    compute_coverage,
    open_incidents,
)
from controls.graph import ControlGraph
from controls.state import SystemView
from frameworks.schema import rule_leaves
from ledger.timeutil import format_timestamp


@dataclass
class GateVerdict:
    """Pass or fail, with every reason."""

    system: str
    model_version: str
    passed: bool
    reasons: list[str]
    controls: list[ControlResult] = field(default_factory=list)
    approval: Decision | None = None
    artifact_sha256: str | None = None
    evaluated_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)
    """What does not decide the verdict but a releaser must know (pending reclassifications, withdrawals)."""

    @property
    def missing_controls(self) -> list[str]:
        """Release controls that are not covered or excepted."""
        return [c.control.id for c in self.controls if c.status not in ("covered", "excepted")]

    def to_json(self) -> dict[str, Any]:
        """JSON form (``assure gate --json``)."""
        return {
            "system": self.system,
            "model_version": self.model_version,
            "verdict": "pass" if self.passed else "fail",
            "reasons": self.reasons,
            "missing_controls": self.missing_controls,
            "controls": [{"control": c.control.id, "status": c.status, "reason": c.reason} for c in self.controls],
            "release_approval": self.approval.to_json() if self.approval else None,
            "notes": self.notes,
            "evaluated_at": format_timestamp(self.evaluated_at) if self.evaluated_at else None,
        }


def release_gate(
    graph: ControlGraph, view: SystemView, *, model_version: str, policy: ApprovalPolicy,
    report: CoverageReport | None = None,
) -> GateVerdict:
    """Decide whether ``model_version`` of ``view.system`` may be released now.

    Args:
        graph: frameworks and controls.
        view: the system's records.
        model_version: the version to release.
        policy: the approval policy.
        report: coverage already computed for this view and ``model_version``
            (any frameworks: control results do not depend on them), to reuse.
    """
    versions = [mv for mv in view.model_versions if mv.model_version == model_version]
    if not versions:
        return GateVerdict(view.system, model_version, False,
                           [f"model version {model_version!r} is not registered for {view.system}"],
                           evaluated_at=view.as_of)
    mv = versions[-1]
    if report is None or report.model_version != model_version or report.at != view.as_of:
        report = compute_coverage(graph, view, policy=policy, model_version=model_version)
    release = [
        c for c in report.controls.values()
        if any(leaf.binds_model_version for leaf in rule_leaves(c.control.evidence))
    ]
    reasons, notes = [], []
    for c in release:
        if c.status in ("covered", "excepted"):
            continue
        line = f"{c.control.id} ({c.control.title}): {c.status}: {c.reason}"
        why = _not_binding(graph, report, c.control.id)
        if why is None:
            reasons.append(line)
        else:  # no requirement it serves binds the system today: a warning, not a blocker
            notes.append(f"{line} (not blocking: {why})")
    reasons += _incident_reasons(view, report, model_version)
    approval = view.decide(mv, policy=policy)
    if approval.status != "approved":
        reasons.append(
            f"release approval {approval.status}: {len(approval.approvers)}/{approval.required} "
            f"distinct approver(s) with role {'/'.join(approval.roles)} approved entry {mv.seq}"
            + "".join(f"; entry {a.seq} not counted: {why}" for a, why in approval.ignored)
        )
    notes += [r.describe() for r in view.pending_reclassifications]
    notes += [f"{c.action} of entry {c.target.seq} by entry {c.record.seq} is {c.state}: {c.reason}"
              for c in view.pending_corrections]
    return GateVerdict(view.system, model_version, not reasons, reasons, release, approval,
                       mv.fields.get("artifact_sha256"), view.as_of, notes)


def _not_binding(graph: ControlGraph, report: CoverageReport, control_id: str) -> str | None:
    """Why no requirement a control serves binds the system on the day (None: one does)."""
    served = [report.requirements[r.node_id] for r in graph.requirements_for(control_id)
              if r.node_id in report.requirements]
    if not served or any(r.status not in NOT_BINDING for r in served):
        return None
    dates = sorted(r.applies_from for r in served if r.applies_from is not None and r.applies_from > report.at.date())
    if dates:
        return f"what it serves applies from {dates[0].isoformat()}"
    return "nothing it serves applies to this system"


def _incident_reasons(view: SystemView, report: CoverageReport, model_version: str) -> list[str]:
    """Open high/critical incidents against the version, unless an active exception
    waives a control that manages incidents."""
    managing = [c for c in report.controls.values() if c.control.open_incidents_fail]
    if any(c.status == "excepted" for c in managing):
        return []
    waive = " or ".join(c.control.id for c in managing) or "the incident-management control"
    return [f"open {i.fields.get('severity')} incident against {model_version} (entry {i.seq}: "
            f"{i.fields.get('title')}); close it, or waive {waive} with an approved exception"
            for i in open_incidents(view, ["high", "critical"], model_version=model_version)]
