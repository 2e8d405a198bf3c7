"""The chain a reviewer reads: model version → evaluations → risk assessment →
approvals → exceptions → incidents, with entry hashes, every withdrawal and
reclassification (in force or pending), and broken links flagged."""

from __future__ import annotations

from typing import Any

from controls.approvals import ApprovalPolicy
from controls.state import Evidence, SystemView
from ledger.errors import NotFoundError


def _ref(e: Evidence, **extra: Any) -> dict[str, Any]:
    return {**e.ref(), **extra}


def trace(view: SystemView, *, policy: ApprovalPolicy, model_version: str | None = None) -> dict[str, Any]:
    """The traceability chain of a system (one model version, or all of them).

    Raises:
        NotFoundError: if ``model_version`` is not registered for the system.
    """
    registered = {mv.model_version for mv in view.model_versions}
    if model_version is not None and model_version not in registered:
        known = ", ".join(sorted(v for v in registered if v)) or "none"
        raise NotFoundError(f"model version {model_version!r} is not registered for {view.system} "
                            f"(registered: {known})", field="--model-version")
    versions = [mv for mv in view.model_versions if model_version in (None, mv.model_version)]
    chain = []
    for mv in versions:
        v = mv.model_version

        def bound(kind: str, v: str | None = v) -> list[Evidence]:
            return [e for e in view.of_kind(kind) if e.model_version == v and e.system == view.system]

        release = view.decide(mv, policy=policy)
        chain.append({
            "model_version": _ref(mv, version=v, artifact_sha256=mv.fields.get("artifact_sha256")),
            "evaluations": [_ref(e, suite=e.fields.get("suite"), passed=e.passed) for e in bound("evaluation")],
            "documents": [_ref(e, doc_type=e.fields.get("doc_type")) for e in bound("document")],
            "risk_assessments": [_ref(e, residual_risk=e.fields.get("residual_risk"))
                                 for e in view.of_kind("risk_assessment")
                                 if e.system == view.system and e.model_version in (None, v)],
            "release_approval": release.to_json(),
            "incidents": [_ref(e, severity=e.fields.get("severity"), status=e.fields.get("status"))
                          for e in bound("incident")],
        })
    exceptions = [
        _ref(e, controls=e.fields.get("controls"), expires_at=e.fields.get("expires_at"),
             approval=view.decide(e, policy=policy).status)
        for e in view.of_kind("exception") if e.system == view.system
    ]
    return {
        "system": view.system,
        "chain": chain,
        "exceptions": exceptions,
        "withdrawals": [c.to_json() for c in view.corrections],
        "reclassifications": [r.to_json() for r in view.reclassifications],
        "broken_links": broken_links(view, registered),
    }


def broken_links(view: SystemView, registered: set[str]) -> list[dict[str, Any]]:
    """References that lead nowhere: unknown or withdrawn targets, unregistered versions."""
    out = []
    for e in view.evidence:
        if e.system != view.system:
            continue
        if e.kind == "approval" and e.target:
            tgt = view.by_hash.get(e.target)
            if tgt is None:
                out.append(_ref(e, problem=f"approves {e.target[:16]}…, which is not a record of this system"))
            elif e.target in view.retracted:
                out.append(_ref(e, problem=f"approves entry {tgt.seq}, which was retracted"))
        if e.kind in ("evaluation", "document", "incident", "risk_assessment") and e.model_version \
                and e.model_version not in registered:
            out.append(_ref(e, problem=f"names model version {e.model_version!r}, which is not registered"))
    return out
