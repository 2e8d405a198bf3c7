"""The data a report template shows, built from a coverage report and its records.

Both the audit package (from a verified bundle) and the internal report (from
the database) come through :func:`report_context`, so the two show the same
thing the same way. Values are plain dicts, lists and strings: templates do no
computing beyond loops and escaping.

:func:`coverage_statement` is the one sentence per framework that the PDF prints
and ``verify-package`` looks for in the PDF's text, so the figures a reader sees
are checked against the recomputed ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controls.approvals import Decision
from controls.coverage import STATUSES, CoverageReport
from controls.gaps import describe_rule
from controls.liveness import Correction, Reclassification
from controls.state import Evidence
from ledger.registry import ROLE_KINDS, KeyState

STATUS_COLOURS = {
    "covered": "#2e7d32",
    "excepted": "#1565c0",
    "partial": "#f9a825",
    "failing": "#c62828",
    "stale": "#ef6c00",
    "missing": "#9e9e9e",
    "not_applicable": "#e0e0e0",
}
_CHART_STATUSES = [s for s in STATUSES if s != "not_applicable"]


@dataclass(frozen=True)
class PackageInfo:
    """What only an audit package has: the checkpoint and the signing key.

    Attributes:
        origin: the ledger origin.
        checkpoint_size: the tree size of the package checkpoint.
        checkpoint_root: its root, hex.
        checkpoint_note: the signed checkpoint note text.
        key_id: the package signing key's fingerprint (hex SHA-256 of the public key).
        entries: how many ledger entries the bundle carries.
        complete_up_to: the bundle holds every entry of its scopes below this
            seq (proven by the scope index committed as that entry).
    """

    origin: str
    checkpoint_size: int
    checkpoint_root: str
    checkpoint_note: str
    key_id: str
    entries: int
    complete_up_to: int | None = None


def coverage_statement(framework: dict[str, Any]) -> str:
    """The sentence the PDF states for one framework, from its coverage JSON.

    Args:
        framework: one item of ``CoverageReport.to_json()["frameworks"]``.
    """
    c = framework["counts"]
    done = c["covered"] + c["excepted"]
    return (
        f"{framework['framework']}: {framework['percent_covered']}% covered "
        f"({done} of {framework['applicable']} applicable requirements; "
        + ", ".join(f"{s} {c[s]}" for s in _CHART_STATUSES)
        + ")"
    )


def iso(t: dt.datetime | None) -> str:
    """RFC 3339 UTC text to the second (``2026-11-02T09:00:00Z``), or an empty string.

    The PDF states times to the second; bundle.json keeps the exact values.
    """
    if t is None:
        return ""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(t: dt.datetime | None) -> str:
    """``YYYY-MM-DD``, or an empty string."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d") if t else ""


def report_context(
    report: CoverageReport,
    *,
    decisions: list[Decision],
    keys: list[KeyState],
    records: list[Evidence],
    package: PackageInfo | None,
    generator: str,
) -> dict[str, Any]:
    """Everything the templates show.

    Args:
        report: the coverage report.
        decisions: approval decisions for the system (``controls.approvals.decisions``).
        keys: the key registry (every key ever trusted).
        records: every record in scope, live or not, in ledger order (evidence index).
        package: checkpoint and key details for an audit package; None for the
            internal report.
        generator: e.g. ``assure 0.1.0``.
    """
    view = report.view
    by_target = {d.target.entry_hash: d for d in decisions}
    cov = report.to_json(details=False)
    return {
        "generator": generator,
        "package": package,
        "as_of": iso(report.as_of),
        "as_of_day": day(report.as_of),
        "system": {
            "id": view.system, "name": view.name, "owner": view.owner,
            "purpose": view.record.fields.get("purpose") or "",
            "risk_tier": view.risk_tier, "eu_class": view.eu_class, "eu_role": view.eu_role,
            "model_version": report.model_version or "none registered",
            "registered": _ref(view.record),
        },
        "frameworks": [
            {**fw, "statement": coverage_statement(fw)} for fw in cov["frameworks"]
        ],
        "chart": _chart(cov["frameworks"]),
        "statuses": [{"name": s, "colour": STATUS_COLOURS[s]} for s in STATUSES],
        "requirements": [_framework_rows(fc, by_target) for fc in report.frameworks],
        "gaps": _gaps(report),
        "exceptions": [_exception(x) for x in report.exceptions],
        "decisions": [_decision(d) for d in decisions],
        "incidents": [_incident(e) for e in view.of_kind("incident") if e.system == view.system],
        "withdrawals": [_withdrawal(c) for c in view.corrections],
        "reclassifications": [_reclassification(r) for r in view.reclassifications],
        "keys": [_key(k, report.as_of) for k in keys],
        "index": [_index_row(e, view) for e in records],
        "index_header": _INDEX_LINE.format(seq="seq", kind="kind", system="*", state="state",
                                           received="received (UTC)", signer="signer"),
    }


def _ref(e: Evidence) -> dict[str, Any]:
    return {"seq": e.seq, "hash": e.entry_hash, "short": e.entry_hash[:16], "observed": day(e.observed_at),
            "received": iso(e.received_at), "signer": e.signer_owner, "role": e.signer_role, "kind": e.kind}


def _chart(frameworks: list[dict[str, Any]]) -> dict[str, Any]:
    width, label_w, bar_h, gap = 470.0, 110.0, 16.0, 8.0
    bar_w = width - label_w - 50
    rows = []
    for i, fw in enumerate(frameworks):
        y = i * (bar_h + gap)
        x = label_w
        segments = []
        total = fw["applicable"]
        for s in _CHART_STATUSES:
            n = fw["counts"][s]
            if not n or not total:
                continue
            w = bar_w * n / total
            segments.append({"x": round(x, 2), "w": round(w, 2), "colour": STATUS_COLOURS[s], "status": s, "n": n})
            x += w
        rows.append({"label": fw["framework"], "y": y, "text_y": y + bar_h * 0.72, "segments": segments,
                     "percent": fw["percent_covered"], "empty": not segments})
    height = max(1, len(frameworks)) * (bar_h + gap)
    return {"width": width, "height": height, "bar_h": bar_h, "label_w": label_w, "bar_w": bar_w,
            "pct_x": label_w + bar_w + 6, "rows": rows}


def _framework_rows(fc: Any, by_target: dict[str, Decision]) -> dict[str, Any]:
    rows, not_applicable = [], []
    for r in fc.requirements:
        if r.status == "not_applicable":
            not_applicable.append(r.requirement_id)
            continue
        rows.append({
            "id": r.requirement_id,
            "title": r.title,
            "status": r.status,
            "inferred": r.inferred or "",
            "controls": [{"id": c.control.id, "status": c.status} for c in r.controls],
            "evidence": [{**_ref(e), "approver": _approver(by_target.get(e.entry_hash))} for e in r.evidence],
        })
    return {"id": fc.framework_id, "name": fc.name, "version": fc.version, "rows": rows,
            "not_applicable": not_applicable}


def _approver(d: Decision | None) -> str:
    if d is None:
        return ""
    names = ", ".join(a.signer_owner for a in d.approvers)
    return f"{names} ({d.status})" if names else d.status


def _gaps(report: CoverageReport) -> dict[str, Any]:
    blocked: dict[str, list[str]] = {}
    statuses: dict[str, dict[str, list[str]]] = {}
    for fc in report.frameworks:
        per = statuses.setdefault(fc.framework_id, {})
        for r in fc.requirements:
            if r.status in ("covered", "excepted", "not_applicable"):
                continue
            per.setdefault(r.status, []).append(r.requirement_id)
            for c in r.controls:
                if c.status not in ("covered", "excepted"):
                    blocked.setdefault(c.control.id, []).append(r.node_id)
    controls = [
        {"id": cid, "title": report.controls[cid].control.title, "status": report.controls[cid].status,
         "reason": report.controls[cid].reason,
         "needed": describe_rule(report.controls[cid].control.evidence, cid),
         "requirements": len(reqs)}
        for cid, reqs in sorted(blocked.items())
    ]
    by_framework = [
        {"framework": fid, "groups": [{"status": s, "ids": ids} for s, ids in per.items()]}
        for fid, per in statuses.items()
    ]
    return {"controls": controls, "by_framework": by_framework}


def _exception(x: Any) -> dict[str, Any]:
    f = x.record.fields
    d = x.decision
    return {
        **_ref(x.record), "state": x.state, "owner": f.get("owner") or "",
        "controls": x.controls, "compensating": x.compensating_controls,
        "rationale": f.get("rationale") or "", "remediation": f.get("remediation") or "",
        "expires": iso(x.expires_at), "days_left": x.days_left,
        "active_from": iso(x.active_from),
        "approval": f"{d.status}: {len(d.approvers)}/{d.required} "
                    + (", ".join(a.signer_owner for a in d.approvers) or "no approver yet"),
    }


def _decision(d: Decision) -> dict[str, Any]:
    return {
        "target": _ref(d.target), "type": d.decision_type, "status": d.status, "required": d.required,
        "roles": ", ".join(d.roles),
        "approved_by": [_ref(a) for a in d.approvers],
        "rejected_by": [_ref(a) for a in d.rejections],
        "not_counted": [{**_ref(a), "reason": why} for a, why in d.ignored],
        "decided_at": iso(d.decided_at),
    }


def _withdrawal(c: Correction) -> dict[str, Any]:
    return {"action": c.action, "state": c.state, "reason": c.reason, "why": c.record.fields.get("reason") or "",
            "by": _ref(c.record), "target": _ref(c.target)}


def _reclassification(r: Reclassification) -> dict[str, Any]:
    return {"state": r.state, "downgrade": r.downgrade, "entry": _ref(r.record),
            "changes": ", ".join(f"{f}: {a} → {b}" for f, (a, b) in r.changes.items()),
            "approvers": f"{len(r.decision.approver_owners)}/{r.decision.required}"}


def _incident(e: Evidence) -> dict[str, Any]:
    f = e.fields
    return {**_ref(e), "title": f.get("title") or "", "severity": f.get("severity") or "",
            "status": f.get("status") or "", "model_version": e.model_version or "",
            "reported": "yes" if f.get("reported_to_authority") else "no",
            "description": f.get("description") or ""}


def _key(k: KeyState, at: dt.datetime) -> dict[str, Any]:
    return {
        "id": k.key_id, "owner": k.owner, "role": k.role,
        "kinds": ", ".join(sorted(ROLE_KINDS.get(k.role, frozenset()))),
        "trusted_seq": k.trusted_seq, "trusted_at": iso(k.trusted_at),
        "valid_from": iso(k.valid_from), "valid_until": iso(k.valid_until),
        "revoked_seq": "" if k.revoked_seq is None else k.revoked_seq,
        "revoked_at": iso(k.revoked_at), "revoke_reason": k.revoke_reason or "",
        "status": k.status(at),
    }


_INDEX_LINE = "{seq:>6} {kind:<15} {system:<1} {state:<10} {received:<17} {signer:.18}"


def _index_row(e: Evidence, view: Any) -> dict[str, Any]:
    """One line of the evidence index: fixed columns in a monospace cell (one table cell
    instead of six keeps a 1,000-row index fast to lay out)."""
    state = ("retracted" if e.entry_hash in view.retracted else
             "superseded" if e.entry_hash in view.superseded else
             "retraction" if e.kind == "retract" else "live")
    received = e.received_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    line = _INDEX_LINE.format(seq=e.seq, kind=e.kind, system="*" if e.system == "*" else "", state=state,
                              received=received, signer=e.signer_owner)
    return {"hash": e.entry_hash, "line": line}
