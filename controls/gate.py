"""The release gate a CI pipeline calls before shipping a model version.

A version passes when (1) it is registered for the system, (2) every applicable
control whose evidence is bound to a model version (the per-release controls:
evaluations, model cards, …) is covered by evidence for *that* version or by an
active exception, and (3) its release approval meets the approval policy. The
verdict can be signed as an in-toto Statement in a DSSE envelope so a deploy job
checks a signature instead of trusting a log line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from controls.approvals import ApprovalPolicy, Decision, decide
from controls.coverage import ControlResult, CoverageReport, compute_coverage
from controls.graph import ControlGraph
from controls.state import SystemView
from frameworks.schema import rule_leaves
from ledger.canonical import canonical_json
from ledger.dsse import Envelope, sign_envelope
from ledger.keys import PrivateKey
from ledger.timeutil import format_timestamp

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
GATE_PREDICATE = "https://assure.dev/attestations/release-gate/v1"


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
    reasons = [f"{c.control.id} ({c.control.title}): {c.status}: {c.reason}"
               for c in release if c.status not in ("covered", "excepted")]
    approval = decide(mv, view.of_kind("approval"), tier=view.risk_tier, policy=policy)
    if approval.status != "approved":
        reasons.append(
            f"release approval {approval.status}: {len(approval.approvers)}/{approval.required} "
            f"distinct approver(s) with role {'/'.join(approval.roles)} approved entry {mv.seq}"
            + "".join(f"; entry {a.seq} not counted: {why}" for a, why in approval.ignored)
        )
    return GateVerdict(view.system, model_version, not reasons, reasons, release, approval,
                       mv.fields.get("artifact_sha256"), view.as_of)


def gate_statement(verdict: GateVerdict, *, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The verdict as an in-toto Statement v1 naming the model artifact as its subject."""
    subject = [{"name": f"{verdict.system}@{verdict.model_version}",
                "digest": {"sha256": verdict.artifact_sha256 or "0" * 64}}]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": GATE_PREDICATE,
        "predicate": {**verdict.to_json(), "ledger_checkpoint": checkpoint},
    }


def sign_statement(statement: dict[str, Any], key: PrivateKey) -> Envelope:
    """Sign a Statement into a DSSE envelope (payloadType application/vnd.in-toto+json)."""
    return sign_envelope(INTOTO_PAYLOAD_TYPE, canonical_json(statement), key)
