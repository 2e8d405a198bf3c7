"""The data a report template shows, built from a coverage report and its records.

Both the audit package (from a verified bundle) and the internal report (from
the database) come through :func:`report_context`, so the two show the same
thing the same way. Values are plain dicts, lists and strings: templates do no
computing beyond loops and escaping.

What the evidence *says* is put into words here (:func:`describe_record`): an
evaluation's metrics against their thresholds with PASS/FAIL per metric, a
document's type, title, version and artifact digests, a risk assessment's risk
register, an approval's approver, role, time, decision and conditions, and so on.
The same words appear where a record decides a requirement and in the evidence
index, which lists every record.

Text that must fit a column is cut here, never by the layout, and a cut always
ends in "…"; identifiers and hashes are never cut mid-token by the layout: a
hash is either shortened here (with "…", its full value in the evidence index)
or broken only between 16-digit groups (:func:`hash_groups`).

:func:`coverage_statement` is the one sentence per framework that the PDF prints
and ``verify-package`` looks for in the PDF's text, so the figures a reader sees
are checked against the recomputed ones.

This module reads no database and renders nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controls.approvals import DEFAULT_POLICY, ApprovalPolicy, Decision, load_policy
from controls.coverage import STATUSES, CoverageReport
from controls.gaps import GAP_STATUSES, describe_rule
from controls.gate import release_gate
from controls.liveness import Correction, Reclassification
from controls.state import Evidence, SystemView
from ledger.record_rules import threshold_breach
from ledger.registry import ROLE_KINDS, KeyState

STATUS_COLOURS = {
    "covered": "#2e7d32",
    "excepted": "#1565c0",
    "partial": "#f9a825",
    "failing": "#c62828",
    "stale": "#ef6c00",
    "missing": "#9e9e9e",
    "needs_review": "#7e57c2",
    "upcoming": "#b0bec5",
    "not_applicable": "#e0e0e0",
}
_OTHER_COLOUR = "#616161"
_CHART_STATUSES = [s for s in STATUSES if s not in ("not_applicable", "upcoming")]
#: Exceptions that expire within this many days are named in the executive summary.
EXPIRY_WARNING_DAYS = 30
#: Frameworks side by side in one status-count table.
_COUNT_COLUMNS = 5
#: Longest text a running header shows of a system id.
_HEADER_ID_CHARS = 32


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
        definitions: the bundled definition files (``name``, ``origin``,
            ``sha256`` attributes, as :class:`reports.bundle.DefinitionFile`).
        policy: the bundled approval policy file (same attributes).
    """

    origin: str
    checkpoint_size: int
    checkpoint_root: str
    checkpoint_note: str
    key_id: str
    entries: int
    complete_up_to: int | None = None
    definitions: tuple[Any, ...] = ()
    policy: Any | None = None


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


def day(t: dt.datetime | dt.date | None) -> str:
    """``YYYY-MM-DD``, or an empty string."""
    if t is None:
        return ""
    if isinstance(t, dt.datetime):
        t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%d")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def short_hash(h: str, n: int = 12) -> str:
    """The first ``n`` hex digits and "…" (the full hash is in the evidence index)."""
    return h[:n] + "…" if len(h) > n else h


def hash_groups(h: str, size: int = 16) -> list[str]:
    """A hash in groups of ``size`` digits: the layout may break a line only between groups."""
    return [h[i: i + size] for i in range(0, len(h), size)]


def number(v: Any) -> str:
    """A metric value or bound as a reader expects it (``0.061``, ``12``, ``1e-06``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.6g}"


def report_context(
    report: CoverageReport,
    *,
    decisions: list[Decision],
    keys: list[KeyState],
    records: list[Evidence],
    package: PackageInfo | None,
    generator: str,
    graph: Any | None = None,
    policy: ApprovalPolicy | None = None,
    definitions: Sequence[Any] | None = None,
    upcoming: Sequence[Any] | None = None,
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
        graph: the control graph the coverage was computed with; only needed
            when the release gate must recompute coverage (it reuses ``report``
            when it was computed for the current model version at ``as_of``),
            and to name user-supplied definition files of an internal report.
        policy: the approval policy the coverage was computed with (default:
            the built-in one). The release gate's approval check applies it.
        definitions: the definition files assessed against (``name``,
            ``origin``, ``sha256``); default: the package's, else the graph's.
        upcoming: obligations that start to bind the system within a year
            (items with ``framework``, ``requirement`` or ``id``, ``title``,
            ``applies_from`` or ``date``, ``reason``); None: not computed, and
            the PDF says nothing of them.
    """
    view = report.view
    by_target = {d.target.entry_hash: d for d in decisions}
    cov = report.to_json(details=False)
    policy_in_force = policy or load_policy()
    words = _Words(view, by_target, report, records)
    in_scope = [words.record(e) for e in records]
    failing = _failing_evaluations(view, report, words)
    linked = _linked(report, in_scope) | {r["seq"] for r in failing}
    return {
        "generator": generator,
        "package": package,
        "as_of": iso(report.as_of),
        "as_of_day": day(report.as_of),
        "header": _header(view.system, report.as_of, package is not None),
        "system": {
            "id": view.system, "name": view.name, "owner": view.owner,
            "purpose": view.record.fields.get("purpose") or "",
            "risk_tier": view.risk_tier, "eu_class": view.eu_class, "eu_role": view.eu_role,
            "facts": _facts(view.record.fields.get("facts")),
            "intended_use": view.record.fields.get("intended_use") or "",
            "out_of_scope_use": view.record.fields.get("out_of_scope_use") or "",
            "model_version": report.model_version or "none registered",
            "registered": _ref(view.record),
        },
        "provenance": _provenance(package, graph, policy, definitions),
        "gate": _gate(report, graph, policy_in_force),
        "failing_evaluations": failing,
        "open_incidents": [words.record(e) for e in view.of_kind("incident")
                           if e.system == view.system and e.fields.get("status") == "open"],
        "expiring": [_exception(x) for x in report.exceptions
                     if x.state == "active" and x.days_left <= EXPIRY_WARNING_DAYS],
        "expiry_days": EXPIRY_WARNING_DAYS,
        "pending_reclassifications": [_reclassification(r) for r in view.pending_reclassifications],
        "upcoming": None if upcoming is None else [_upcoming(u) for u in upcoming],
        "frameworks": [
            {**fw, "statement": coverage_statement(fw)} for fw in cov["frameworks"]
        ],
        "chart": coverage_chart(cov["frameworks"]),
        "count_tables": [cov["frameworks"][i: i + _COUNT_COLUMNS]
                         for i in range(0, len(cov["frameworks"]), _COUNT_COLUMNS)],
        "statuses": [{"name": s, "colour": STATUS_COLOURS.get(s, _OTHER_COLOUR)} for s in STATUSES],
        "requirements": [_framework_rows(fc, by_target, words) for fc in report.frameworks],
        "gaps": _gaps(report),
        "exceptions": [_exception(x) for x in report.exceptions],
        "risk_assessments": [words.record(e) for e in view.of_kind("risk_assessment") if e.system == view.system],
        "decisions": [_decision(d) for d in decisions],
        "incidents": [words.record(e) for e in view.of_kind("incident") if e.system == view.system],
        "withdrawals": [_withdrawal(c) for c in view.corrections],
        "reclassifications": [_reclassification(r) for r in view.reclassifications],
        "keys": [_key(k, report.as_of) for k in keys],
        "index": [_index_row(e, view) | {"words": index_words(r), "linked": e.seq in linked}
                  for e, r in zip(records, in_scope, strict=True)],
        "index_header": _INDEX_LINE.format(seq="seq", kind="kind", system="*", state="state",
                                           received="received (UTC)", signer="signer"),
    }


#: Kinds a ledger may hold thousands of: their index rows get an anchor only when linked to.
_BULK_KINDS = frozenset({"evaluation", "document"})


def _linked(report: CoverageReport, records: list[dict[str, Any]]) -> set[int]:
    """Entries something in the PDF links to (an anchor costs layout time: not every row gets one)."""
    out = {e.seq for fc in report.frameworks for r in fc.requirements for e in r.evidence}
    out |= {x.record.seq for x in report.exceptions}
    out |= {r["seq"] for r in records if r["kind"] not in _BULK_KINDS}
    for r in records:
        for ref in (r["supersedes"], (r["approval"] or {}).get("target"), (r["retract"] or {}).get("target")):
            if ref and isinstance(ref.get("seq"), int):
                out.add(ref["seq"])
    return out


def _header(system: str, as_of: dt.datetime, is_package: bool) -> str:
    """The running header: one short line (safe inside a CSS string: ids and digits only)."""
    kind = "Audit package" if is_package else "Internal report"
    return f"{kind} · {clip(system, _HEADER_ID_CHARS)} · as of {iso(as_of)}"


def _facts(facts: Any) -> list[dict[str, str]]:
    """A system record's facts (a mapping or a list), as name/value rows."""
    if isinstance(facts, Mapping):
        return [{"name": str(k), "value": _fact_value(v)} for k, v in facts.items()]
    if isinstance(facts, list | tuple):
        return [{"name": str(f), "value": "yes"} for f in facts]
    return []


def _fact_value(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if v is None:
        return "unknown"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def _ref(e: Evidence) -> dict[str, Any]:
    return {"seq": e.seq, "hash": e.entry_hash, "short": short_hash(e.entry_hash), "observed": day(e.observed_at),
            "observed_at": iso(e.observed_at), "received": iso(e.received_at), "signer": e.signer_owner,
            "role": e.signer_role, "kind": e.kind, "anchor": f"e{e.seq}"}


# ----------------------------------------------------------------------- provenance


def _provenance(package: PackageInfo | None, graph: Any | None, policy: ApprovalPolicy | None,
                definitions: Sequence[Any] | None) -> dict[str, Any]:
    """What the assessment was made against, and whether anything is not the built-in default."""
    files = list(definitions) if definitions is not None else (
        list(package.definitions) if package is not None and package.definitions else
        list(graph.definition_files()) if graph is not None else [])
    user_files = [{"name": f.name, "origin": f.origin, "sha256": f.sha256, "short": short_hash(f.sha256, 16)}
                  for f in files if getattr(f, "origin", "builtin") != "builtin"]
    policy_file = package.policy if package is not None else None
    default_bytes = DEFAULT_POLICY.read_bytes()
    if policy_file is not None:
        differs = policy_file.sha256 != hashlib.sha256(default_bytes).hexdigest()
        policy_row = {"name": policy_file.name, "origin": policy_file.origin, "sha256": policy_file.sha256,
                      "short": short_hash(policy_file.sha256, 16), "default": policy_file.origin == "builtin"
                      and not differs, "same_as_default": not differs}
    elif policy is not None:
        same = policy == load_policy()
        policy_row = {"name": "", "origin": "builtin" if same else "user", "sha256": "", "short": "",
                      "default": same, "same_as_default": same}
    else:
        policy_row = None
    return {
        "policy": policy_row,
        "user_files": user_files,
        "notice": bool(user_files) or (policy_row is not None and not policy_row["default"]),
    }


# ----------------------------------------------------------------------- executive summary


def _gate(report: CoverageReport, graph: Any | None, policy: ApprovalPolicy) -> dict[str, Any]:
    """The release-gate verdict for the current model version, as ``assure gate`` gives it."""
    view = report.view
    mv = report.model_version
    if mv is None:
        return {"model_version": None, "verdict": "FAIL", "passed": False,
                "reasons": [f"no model version is registered for {view.system}"], "notes": [], "approval": ""}
    if graph is None and report.at != view.as_of:  # pragma: no cover - reports are computed at as_of
        return {"model_version": mv, "verdict": "NOT COMPUTED", "passed": False,
                "reasons": ["the release gate needs the control graph to recompute coverage"], "notes": [],
                "approval": ""}
    verdict = release_gate(graph, view, model_version=mv, policy=policy, report=report)
    a = verdict.approval
    approval = "" if a is None else (
        f"release approval {a.status}: {len(a.approver_owners)}/{a.required} "
        + (", ".join(a.approver_owners) if a.approver_owners else "no approver yet")
        + (f", {iso(a.decided_at)}" if a.decided_at else ""))
    return {"model_version": mv, "verdict": "PASS" if verdict.passed else "FAIL", "passed": verdict.passed,
            "reasons": verdict.reasons, "notes": verdict.notes, "approval": approval,
            "artifact": verdict.artifact_sha256 or ""}


def _failing_evaluations(view: SystemView, report: CoverageReport, words: _Words) -> list[dict[str, Any]]:
    """The latest run of each suite for the current model version, where it failed."""
    mv = report.model_version
    latest: dict[str, Evidence] = {}
    for e in view.of_kind("evaluation"):
        if e.system != view.system or (mv is not None and e.model_version != mv):
            continue
        suite = str(e.fields.get("suite"))
        if suite not in latest or (e.observed_at, e.seq) > (latest[suite].observed_at, latest[suite].seq):
            latest[suite] = e
    return [words.record(e) for e in sorted(latest.values(), key=lambda e: e.seq) if e.passed is False]


def _upcoming(u: Any) -> dict[str, str]:
    def get(*names: str) -> Any:
        for n in names:
            v = u.get(n) if isinstance(u, Mapping) else getattr(u, n, None)
            if v is not None:
                return v
        return None

    when = get("applies_from", "date", "starts")
    return {"framework": str(get("framework", "framework_id") or ""),
            "id": str(get("requirement", "requirement_id", "id") or ""),
            "title": str(get("title") or ""),
            "date": day(when) if isinstance(when, dt.date) else str(when or ""),
            "reason": str(get("reason") or "")}


def coverage_chart(frameworks: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage bars, one per framework, segments by status (the PDF and the web view draw it)."""
    width, label_w, bar_h, gap = 470.0, 110.0, 16.0, 8.0
    bar_w = width - label_w - 50
    rows = []
    for i, fw in enumerate(frameworks):
        y = i * (bar_h + gap)
        x = label_w
        segments = []
        total = fw["applicable"]
        for s in _CHART_STATUSES:
            n = fw["counts"].get(s, 0)
            if not n or not total:
                continue
            w = bar_w * n / total
            segments.append({"x": round(x, 2), "w": round(w, 2), "colour": STATUS_COLOURS.get(s, _OTHER_COLOUR),
                             "status": s, "n": n})
            x += w
        rows.append({"label": clip(fw["framework"], 22), "y": y, "text_y": y + bar_h * 0.72, "segments": segments,
                     "percent": fw["percent_covered"], "empty": not segments})
    height = max(1, len(frameworks)) * (bar_h + gap)
    return {"width": width, "height": height, "bar_h": bar_h, "label_w": label_w, "bar_w": bar_w,
            "pct_x": label_w + bar_w + 6, "rows": rows}


# ----------------------------------------------------------------------- requirements and gaps


def _why(r: Any) -> tuple[str, str]:
    """A requirement's applicability reason and date, where the coverage data carries them.

    ``reason`` may be text, a verdict object (``reason``, ``applies_from``,
    ``applies_until``, ``missing_facts``) or its JSON mapping.
    """
    reason = getattr(r, "reason", None)
    when = getattr(r, "applies_from", None)
    missing: Iterable[str] = ()
    if isinstance(reason, Mapping):
        reason, when, missing = reason.get("reason"), reason.get("applies_from") or when, reason.get(
            "missing_facts") or ()
    elif reason is not None and not isinstance(reason, str):
        when = getattr(reason, "applies_from", None) or getattr(reason, "applies_until", None) or when
        missing = getattr(reason, "missing_facts", ()) or ()
        reason = getattr(reason, "reason", None)
    text = str(reason or "")
    if missing:
        text += ("; " if text else "") + "facts to state: " + ", ".join(missing)
    return text, (day(when) if isinstance(when, dt.date) else str(when or ""))


def _framework_rows(fc: Any, by_target: dict[str, Decision], words: _Words) -> dict[str, Any]:
    rows, not_applicable = [], []
    for r in fc.requirements:
        why, when = _why(r)
        if r.status == "not_applicable":
            not_applicable.append({"id": r.requirement_id, "title": r.title, "reason": why, "date": when})
            continue
        rows.append({
            "id": r.requirement_id,
            "title": r.title,
            "status": r.status,
            "reason": why,
            "date": when,
            "inferred": r.inferred or "",
            "controls": [{"id": c.control.id, "status": c.status} for c in r.controls],
            "evidence": [{**_ref(e), "words": words.headline(e), "fail": words.fails(e),
                          "approver": _approver(by_target.get(e.entry_hash))} for e in r.evidence],
        })
    return {"id": fc.framework_id, "name": fc.name, "version": fc.version, "rows": rows,
            "header": clip(f"Requirements: {fc.framework_id}", 34),
            "not_applicable": not_applicable, "na_with_reasons": any(n["reason"] for n in not_applicable)}


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
            if r.status not in GAP_STATUSES:  # what 'assure gaps' lists, no more (not upcoming ones)
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


# ----------------------------------------------------------------------- sections


def _exception(x: Any) -> dict[str, Any]:
    f = x.record.fields
    d = x.decision
    return {
        **_ref(x.record), "state": x.state, "owner": f.get("owner") or "",
        "controls": x.controls, "compensating": x.compensating_controls,
        "rationale": f.get("rationale") or "", "remediation": f.get("remediation") or "",
        "expires": iso(x.expires_at), "days_left": x.days_left,
        "active_from": iso(x.active_from),
        "approvers": [f"{a.signer_owner} ({a.signer_role})" for a in d.approvers],
        "approval": f"{d.status}: {len(d.approvers)}/{d.required} "
                    + (", ".join(a.signer_owner for a in d.approvers) or "no approver yet"),
        "problem": x.problem or "",
    }


def _decision(d: Decision) -> dict[str, Any]:
    return {
        "target": _ref(d.target), "type": d.decision_type, "status": d.status, "required": d.required,
        "roles": ", ".join(d.roles),
        "approved_by": [{**_ref(a), "conditions": _conditions(a)} for a in d.approvers],
        "rejected_by": [{**_ref(a), "conditions": _conditions(a)} for a in d.rejections],
        "not_counted": [{**_ref(a), "reason": why} for a, why in d.ignored],
        "decided_at": iso(d.decided_at),
    }


def _conditions(a: Evidence) -> list[str]:
    return [str(c) for c in a.fields.get("conditions") or []]


def _withdrawal(c: Correction) -> dict[str, Any]:
    why = c.record.fields.get("reason") or c.record.fields.get("notes") or ""
    return {"action": c.action, "state": c.state, "reason": c.reason, "why": why,
            "by": _ref(c.record), "target": _ref(c.target),
            "approval": "" if c.decision is None else
            f"{c.decision.status}: {len(c.decision.approver_owners)}/{c.decision.required} "
            + (", ".join(c.decision.approver_owners) or "no approver yet")}


def _reclassification(r: Reclassification) -> dict[str, Any]:
    return {"state": r.state, "downgrade": r.downgrade, "entry": _ref(r.record),
            "changes": ", ".join(f"{f}: {a} → {b}" for f, (a, b) in r.changes.items()),
            "approvers": f"{len(r.decision.approver_owners)}/{r.decision.required}",
            "approver_names": ", ".join(r.decision.approver_owners),
            "why": r.record.fields.get("notes") or "",
            "describe": r.describe()}


def _key(k: KeyState, at: dt.datetime) -> dict[str, Any]:
    return {
        "id": k.key_id, "groups": hash_groups(k.key_id), "owner": k.owner, "role": k.role,
        "kinds": ", ".join(sorted(ROLE_KINDS.get(k.role, frozenset()))),
        "systems": list(k.systems or ()),
        "trusted_seq": k.trusted_seq, "trusted_at": iso(k.trusted_at),
        "valid_from": iso(k.valid_from), "valid_until": iso(k.valid_until),
        "revoked_seq": "" if k.revoked_seq is None else k.revoked_seq,
        "revoked_at": iso(k.revoked_at), "revoke_reason": k.revoke_reason or "",
        "status": k.status(at),
    }


# ----------------------------------------------------------------------- evidence in words


class _Words:
    """Puts records into words, once each (a record may decide many requirements)."""

    def __init__(self, view: SystemView, by_target: dict[str, Decision], report: CoverageReport,
                 records: Iterable[Evidence]):
        self.view = view
        self.by_target = by_target
        self.report = report
        # The internal report's view holds only the deciding records; the index has them all.
        self.by_hash = {**{e.entry_hash: e for e in records}, **view.by_hash}
        self._records: dict[int, dict[str, Any]] = {}
        self._headlines: dict[int, str] = {}
        self._controls: dict[int, list[dict[str, Any]]] = {}
        for c in report.controls.values():
            for e in c.evidence:
                row: dict[str, Any] = {"id": c.control.id, "status": c.status, "exception": None}
                if c.exception is not None:
                    x = c.exception
                    row["exception"] = {"seq": x.record.seq, "expires": iso(x.expires_at),
                                        "days_left": (x.expires_at - report.as_of).days}
                self._controls.setdefault(e.seq, []).append(row)

    def state(self, e: Evidence) -> str:
        v = self.view
        return ("retracted" if e.entry_hash in v.retracted else
                "superseded" if e.entry_hash in v.superseded else "live")

    def fails(self, e: Evidence) -> bool:
        """Whether the record reports a failure (a failed run, an open serious incident)."""
        return (e.kind == "evaluation" and e.passed is False) or (
            e.kind == "incident" and e.fields.get("status") == "open")

    def headline(self, e: Evidence) -> str:
        """One line saying what the record says."""
        if e.seq not in self._headlines:
            self._headlines[e.seq] = _headline(e, self.by_hash)
        return self._headlines[e.seq]

    def record(self, e: Evidence) -> dict[str, Any]:
        """The record in words, with its kind's details (see :func:`describe_record`)."""
        if e.seq not in self._records:
            out = {**_ref(e), "state": self.state(e), "org_wide": e.system == "*", "words": self.headline(e),
                   "fail": self.fails(e), "decides": self._controls.get(e.seq, []),
                   "supersedes": self._target(e.supersedes), "notes": e.fields.get("notes") or "",
                   "signers": [f"{s.owner} ({s.role})" for s in e.signers]}
            out.update(dict.fromkeys(_DETAIL_KEYS))
            out.update(describe_record(e, by_hash=self.by_hash, by_target=self.by_target, as_of=self.view.as_of))
            self._records[e.seq] = out
        return self._records[e.seq]

    def _target(self, h: str | None) -> dict[str, Any] | None:
        if not h:
            return None
        t = self.by_hash.get(h)
        return {"seq": t.seq, "kind": t.kind, "anchor": f"e{t.seq}"} if t else {"seq": "?", "kind": short_hash(h),
                                                                               "anchor": ""}


_DETAIL_KEYS = ("evaluation", "document", "risk_assessment", "approval", "exception", "incident", "model_version",
                "system_record", "retract")


def describe_record(
    e: Evidence, *, by_hash: Mapping[str, Evidence], by_target: Mapping[str, Decision], as_of: dt.datetime
) -> dict[str, Any]:
    """The details of one record by kind, as the PDF's sections and evidence index show them.

    Args:
        e: the record.
        by_hash: records in scope by entry hash (to name what a record targets).
        by_target: approval decisions by the hash of their target.
        as_of: the moment days left are counted from.

    Returns:
        A mapping with one of the keys ``evaluation``, ``document``,
        ``risk_assessment``, ``approval``, ``exception``, ``incident``,
        ``model_version``, ``system_record`` or ``retract``.
    """
    f = e.fields
    if e.kind == "evaluation":
        return {"evaluation": evaluation_rows(e)}
    if e.kind == "document":
        return {"document": {"type": f.get("doc_type") or "", "title": f.get("title") or "",
                             "version": f.get("model_version") or "", "artifacts": _artifacts(f)}}
    if e.kind == "risk_assessment":
        return {"risk_assessment": {
            "risk_tier": f.get("risk_tier") or "", "residual": f.get("residual_risk") or "",
            "version": f.get("model_version") or "", "summary": f.get("summary") or "",
            "risks": [{"id": r.get("id") or "", "description": r.get("description") or "",
                       "severity": r.get("severity") or "", "likelihood": (r.get("likelihood") or "").replace("_", " "),
                       "mitigation": r.get("mitigation") or "", "owner": r.get("owner") or ""}
                      for r in f.get("risks") or []]}}
    if e.kind == "approval":
        target = by_hash.get(e.target or "")
        d = by_target.get(e.target or "")
        counted = "" if d is None else (
            "counted" if any(a.seq == e.seq for a in d.approvers + d.rejections) else
            next((why for a, why in d.ignored if a.seq == e.seq), "not counted (a later decision by the same approver)"))
        return {"approval": {"decision": f.get("decision") or "", "conditions": _conditions(e),
                             "target": None if target is None else _ref(target), "target_hash": e.target or "",
                             "approver": e.signer_owner, "role": e.signer_role,
                             "key": short_hash(e.signer_key_id, 16), "counted": counted,
                             "outcome": "" if d is None else d.status}}
    if e.kind == "exception":
        return {"exception": {"controls": list(f.get("controls") or []),
                              "compensating": list(f.get("compensating_controls") or []),
                              "owner": f.get("owner") or "", "rationale": f.get("rationale") or "",
                              "remediation": f.get("remediation") or "", "expires": iso(e.expires_at),
                              "days_left": None if e.expires_at is None else (e.expires_at - as_of).days}}
    if e.kind == "incident":
        return {"incident": {"title": f.get("title") or "", "severity": f.get("severity") or "",
                             "status": f.get("status") or "", "version": e.model_version or "",
                             "reported": "yes" if f.get("reported_to_authority") else "no",
                             "description": f.get("description") or ""}}
    if e.kind == "model_version":
        d = by_target.get(e.entry_hash)
        return {"model_version": {"version": f.get("version") or "", "artifact": f.get("artifact_sha256") or "",
                                  "artifact_groups": hash_groups(str(f.get("artifact_sha256") or "")),
                                  "datasets": list(f.get("datasets") or []), "parent": f.get("parent") or "",
                                  "commit": f.get("commit") or "",
                                  "release": "no approval recorded" if d is None else
                                  f"{d.status}: {len(d.approver_owners)}/{d.required} "
                                  + (", ".join(d.approver_owners) or "no approver yet")}}
    if e.kind == "system":
        return {"system_record": {k: f.get(k) or "" for k in (
            "name", "owner", "purpose", "risk_tier", "eu_class", "eu_role", "intended_use", "out_of_scope_use")}
            | {"facts": _facts(f.get("facts"))}}
    if e.kind == "retract":
        target = by_hash.get(e.target or "")
        return {"retract": {"target": None if target is None else _ref(target), "reason": f.get("reason") or ""}}
    return {}


def evaluation_rows(e: Evidence) -> dict[str, Any]:
    """An evaluation: suite, model version, datasets, and each metric against its threshold."""
    f = e.fields
    metrics = f.get("metrics") or {}
    thresholds = f.get("thresholds") or {}
    rows = []
    for name, value in metrics.items():
        bounds = thresholds.get(name)
        if bounds is None:
            rows.append({"name": name, "value": number(value), "threshold": "none", "result": "", "fail": False})
            continue
        breach = threshold_breach(value, bounds)
        rows.append({"name": name, "value": number(value), "threshold": _bounds(bounds),
                     "result": "FAIL" if breach else "PASS", "fail": bool(breach)})
    breaches = [r for r in rows if r["fail"]]
    header, lines = _metric_lines(rows)
    return {"suite": f.get("suite") or "", "version": e.model_version or "",
            "datasets": list(f.get("datasets") or []), "passed": e.passed,
            "verdict": "PASS" if e.passed else "FAIL", "metrics": rows, "breaches": breaches,
            "unexplained_failure": e.passed is False and not breaches, "header": header, "lines": lines}


_METRIC_CHARS, _VALUE_CHARS, _BOUND_CHARS = 26, 12, 12  # with indent and result: 70 (WORDS_CHARS)


def _metric_lines(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Metrics as fixed columns of monospace text (metric, value, threshold, result): the
    evidence index's table of a run, one text block per record, so 1,000 runs lay out fast."""
    if not rows:
        return "", []
    w = min(max(len(r["name"]) for r in rows), _METRIC_CHARS)
    vw = min(max(len(r["value"]) for r in rows), _VALUE_CHARS)
    tw = min(max(max(len(r["threshold"]) for r in rows), len("threshold")), _BOUND_CHARS)
    header = f"{'metric':<{w}}  {'value':>{vw}}  {'threshold':<{tw}}  result"
    lines = [{"text": f"{clip(r['name'], w):<{w}}  {clip(r['value'], vw):>{vw}}  {clip(r['threshold'], tw):<{tw}}  "
                      f"{r['result'] or 'no threshold'}", "fail": r["fail"]} for r in rows]
    return header, lines


def _bounds(bounds: Mapping[str, Any]) -> str:
    low, high = bounds.get("min"), bounds.get("max")
    if low is not None and high is not None:
        return f"{number(low)} to {number(high)}"
    if low is not None:
        return f"≥ {number(low)}"
    if high is not None:
        return f"≤ {number(high)}"
    return "none"


def _artifacts(f: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": a.get("name") or "", "uri": a.get("uri") or "", "sha256": a.get("sha256") or "",
             "groups": hash_groups(str(a.get("sha256") or ""))} for a in f.get("artifacts") or []]


def record_headline(e: Evidence, *, by_hash: Mapping[str, Evidence]) -> str:
    """One line saying what a record says, as the evidence index words it.

    Args:
        e: the record.
        by_hash: records in scope by entry hash (to name what a record targets).
    """
    return _headline(e, by_hash)


def _headline(e: Evidence, by_hash: Mapping[str, Evidence]) -> str:
    f = e.fields
    if e.kind == "evaluation":
        ev = evaluation_rows(e)
        text = f"evaluation {ev['suite']} of model {ev['version']}: {ev['verdict']}"
        if ev["breaches"]:
            text += " (" + "; ".join(f"{m['name']} {m['value']}, threshold {m['threshold']}"
                                     for m in ev["breaches"][:3]) + (" …" if len(ev["breaches"]) > 3 else "") + ")"
        elif ev["unexplained_failure"]:
            text += " (reported failed; every metric within its threshold)"
        elif ev["metrics"]:
            n = sum(1 for m in ev["metrics"] if m["result"] == "PASS")
            text += f" ({n} of {len(ev['metrics'])} metrics checked against thresholds)"
        return text
    if e.kind == "document":
        version = f" for model {f['model_version']}" if f.get("model_version") else ""
        digests = ", ".join(short_hash(str(a.get("sha256") or ""), 12) for a in f.get("artifacts") or [])
        return (f"{f.get('doc_type')} “{clip(str(f.get('title') or ''), 80)}”{version}"
                + (f", sha256 {digests}" if digests else ""))
    if e.kind == "risk_assessment":
        risks = f.get("risks") or []
        return (f"risk assessment: {len(risks)} risk(s), residual risk {f.get('residual_risk')}"
                + (f", model {f['model_version']}" if f.get("model_version") else ""))
    if e.kind == "approval":
        t = by_hash.get(e.target or "")
        what = f"entry {t.seq} ({t.kind})" if t else f"entry {short_hash(e.target or '')}"
        cond = f.get("conditions") or []
        return (f"{f.get('decision')} {what} by {e.signer_owner} ({e.signer_role})"
                + (f", with {len(cond)} condition(s)" if cond else ""))
    if e.kind == "exception":
        return (f"exception for {', '.join(f.get('controls') or [])} until {day(e.expires_at)}, "
                f"owner {f.get('owner')}")
    if e.kind == "incident":
        return f"{f.get('severity')} incident “{clip(str(f.get('title') or ''), 80)}”, {f.get('status')}"
    if e.kind == "model_version":
        return f"model version {f.get('version')}, artifact sha256 {short_hash(str(f.get('artifact_sha256') or ''))}"
    if e.kind == "system":
        return f"system record: {f.get('risk_tier')} tier, EU {f.get('eu_class')} / {f.get('eu_role')}"
    if e.kind == "retract":
        t = by_hash.get(e.target or "")
        return f"retraction of entry {t.seq if t else '?'}: {clip(str(f.get('reason') or ''), 80)}"
    return e.kind


_INDEX_LINE = "{seq:>6} {kind:<15} {system:<1} {state:<10} {received:<20} {signer}"
_SIGNER_CHARS = 18


def _index_row(e: Evidence, view: Any) -> dict[str, Any]:
    """One line of the evidence index: fixed columns in a monospace cell (one table cell
    instead of six keeps a 1,000-row index fast to lay out)."""
    state = ("retracted" if e.entry_hash in view.retracted else
             "superseded" if e.entry_hash in view.superseded else
             "retraction" if e.kind == "retract" else "live")
    line = _INDEX_LINE.format(seq=e.seq, kind=e.kind, system="*" if e.system == "*" else "", state=state,
                              received=iso(e.received_at), signer=clip(e.signer_owner, _SIGNER_CHARS))
    return {"hash": e.entry_hash, "line": line, "anchor": f"e{e.seq}"}


#: Characters per line of the evidence index's "what it says" column (monospace).
WORDS_CHARS = 70


def index_words(r: dict[str, Any]) -> list[dict[str, Any]]:
    """What a record says, as lines of at most :data:`WORDS_CHARS` monospace characters.

    The evidence index is one preformatted text block per record: wrapped here
    (at spaces, never inside an id or a hash) so that 1,000 records lay out in
    seconds. Lines that report a failure are marked ``fail`` (drawn in red).

    Args:
        r: a record in words (:meth:`_Words.record`).
    """
    out: list[dict[str, Any]] = []

    def say(text: str, *, fail: bool = False, indent: str = "  ") -> None:
        for para in str(text).splitlines() or [""]:
            for line in textwrap.wrap(para, WORDS_CHARS, subsequent_indent=indent, break_on_hyphens=False) or [""]:
                out.append({"text": line, "fail": fail})

    def ref(t: dict[str, Any] | None) -> str:
        return f"#{t['seq']} ({t['kind']}, submitted by {t['signer']})" if t else "an entry outside this package"

    if (ev := r["evaluation"]) is not None:
        datasets = f", datasets {', '.join(ev['datasets'])}" if ev["datasets"] else ""
        say(f"suite {ev['suite']}, model version {ev['version']}{datasets}: run reported {ev['verdict']}",
            fail=not ev["passed"])
        for m in ev["lines"]:
            out.append({"text": "  " + m["text"], "fail": m["fail"]})
        if ev["unexplained_failure"]:
            say("failed although every metric meets its threshold", fail=True)
    elif (d := r["document"]) is not None:
        say(f"{d['type'].replace('_', ' ')} “{d['title']}”" + (f", model version {d['version']}" if d["version"] else ""))
        for a in d["artifacts"]:
            say(f"artifact {a['name']}, SHA-256:")
            out.append({"text": "  " + a["sha256"], "fail": False})
            say(f"  {a['uri']}", indent="  ")
    elif (ra := r["risk_assessment"]) is not None:
        say(f"risk tier {ra['risk_tier']}, residual risk {ra['residual']}"
            + (f", model version {ra['version']}" if ra["version"] else "") + (f": {ra['summary']}" if ra["summary"] else ""))
        for k in ra["risks"]:
            say(f"{k['id']}: severity {k['severity']}, likelihood {k['likelihood']}, owner {k['owner'] or 'not named'}: "
                f"{k['description']}; mitigation: {k['mitigation'] or 'none stated'}", indent="    ")
    elif (ap := r["approval"]) is not None:
        verdict = f"; {ap['counted']}; the target is {ap['outcome']}" if ap["outcome"] else ""
        say(f"{ap['decision']} {ref(ap['target'])} by approver {ap['approver']}, role {ap['role']}, key {ap['key']}, "
            f"at {r['received']}{verdict}")
        for c in ap["conditions"]:
            say(f"condition: {c}")
    elif (x := r["exception"]) is not None:
        left = f" ({x['days_left']} days left)" if x["days_left"] is not None else ""
        say(f"waives {', '.join(x['controls'])} until {x['expires']}{left}; owner {x['owner']}; compensating: "
            f"{', '.join(x['compensating']) or 'none'}")
        say(f"rationale: {x['rationale']}")
        say(f"remediation: {x['remediation']}")
    elif (i := r["incident"]) is not None:
        say(f"{i['severity']} “{i['title']}”, status {i['status']}"
            + (f", model version {i['version']}" if i["version"] else "")
            + f", observed {r['observed_at']}; reported to the authority: {i['reported']}", fail=r["fail"])
        if i["description"]:
            say(i["description"])
    elif (mv := r["model_version"]) is not None:
        say(f"model version {mv['version']}" + (f", from {mv['parent']}" if mv["parent"] else "")
            + (f", commit {mv['commit']}" if mv["commit"] else "")
            + (f", datasets {', '.join(mv['datasets'])}" if mv["datasets"] else "") + f"; release approval {mv['release']}")
        say("artifact SHA-256:")
        out.append({"text": "  " + mv["artifact"], "fail": False})
    elif (sr := r["system_record"]) is not None:
        facts = "; ".join(f"{f['name']}: {f['value']}" for f in sr["facts"])
        say(f"{sr['name']}, owner {sr['owner']}: {sr['risk_tier']} tier, EU {sr['eu_class']} / {sr['eu_role']}"
            + (f"; facts: {facts}" if facts else ""))
    elif (rt := r["retract"]) is not None:
        target = f"#{rt['target']['seq']} ({rt['target']['kind']})" if rt["target"] else "an entry outside this package"
        say(f"retracts {target}: {rt['reason']}")
    else:
        say(r["words"])
    if r["supersedes"]:
        say(f"supersedes #{r['supersedes']['seq']} ({r['supersedes']['kind']})")
    if r["notes"]:
        say(f"notes: {r['notes']}")
    if r["decides"]:
        say("decides " + "; ".join(
            f"{c['id']} ({c['status'].replace('_', ' ')}"
            + (f": exception #{c['exception']['seq']} until {c['exception']['expires']}, "
               f"{c['exception']['days_left']} days left" if c["exception"] else "") + ")"
            for c in r["decides"]))
    return out
