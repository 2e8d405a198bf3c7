"""Recompute a package's assessment from its bundle alone: no database, no network.

The control graph is built from the definition files the bundle carries, the
approval policy from the policy file it carries, and the system's records from
the entries that passed :func:`reports.entries.check_entries`, turned into
:class:`controls.state.Evidence` exactly as the ledger's projection does at
append. Coverage is then computed by the same :func:`controls.coverage.compute_coverage`
``assure coverage`` uses, so the figures must agree to the digit.

The package builder runs this too, before anything is signed, so a package
whose bundle would not recompute to its own figures is never produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from controls.approvals import ApprovalPolicy
from controls.coverage import CoverageReport, compute_coverage
from controls.evidence import Evidence, evidence_from_fields
from controls.graph import ControlGraph
from controls.state import build_view
from frameworks.errors import FrameworkLoadError
from frameworks.loader import load_library_from_bytes
from ledger.canonical import parse_json
from ledger.errors import AssureError
from ledger.records import LEDGER_KINDS
from reports.bundle import Bundle, DefinitionFile
from reports.entries import CheckedEntry
from reports.errors import BundleFormatError


@dataclass
class Assessment:
    """Coverage and the records behind it, recomputed from a bundle.

    Attributes:
        graph: the control graph of the bundled definitions.
        policy: the bundled approval policy.
        evidence: every (non key-event) record carried, live or not, in ledger order.
        report: the recomputed coverage.
    """

    graph: ControlGraph
    policy: ApprovalPolicy
    evidence: list[Evidence]
    report: CoverageReport


def policy_from_bytes(data: bytes, *, source: str = "approval_policy") -> ApprovalPolicy:
    """Parse an approval policy file's bytes (what :func:`controls.approvals.load_policy` reads).

    Raises:
        BundleFormatError: naming the field, if it is not a valid policy.
    """
    try:
        obj = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise BundleFormatError(f"not a valid YAML policy: {e}", where=source) from e
    try:
        return ApprovalPolicy.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise BundleFormatError(f"{loc}: {err['msg']}" if loc else err["msg"], where=source) from e


def graph_from_files(files: tuple[DefinitionFile, ...]) -> ControlGraph:
    """The control graph of bundled definition files (in their bundled order).

    Raises:
        BundleFormatError: if the files do not form a valid library.
    """
    try:
        library = load_library_from_bytes([(f.name, f.data) for f in files])
    except FrameworkLoadError as e:
        raise BundleFormatError(f"the framework definitions do not load: {e}", where="definitions") from e
    return ControlGraph(library)


def evidence_of(checked: list[CheckedEntry]) -> list[Evidence]:
    """The records of checked entries as coverage sees them (key events left out)."""
    out = []
    for c in checked:
        if c.leaf.kind in LEDGER_KINDS:
            continue
        out.append(evidence_from_fields(
            seq=c.entry.seq, entry_hash=c.entry.entry_hash, fields=parse_json(c.entry.envelope.payload),
            received_at=c.received_at, signers=list(c.signers),
        ))
    return out


def assess(bundle: Bundle, checked: list[CheckedEntry]) -> Assessment:
    """Recompute coverage from a bundle's definitions, policy and checked entries.

    Raises:
        BundleFormatError: if the definitions or policy do not load, a framework is
            unknown, or the system is not registered among the records.
    """
    graph = graph_from_files(bundle.definitions)
    policy = policy_from_bytes(bundle.policy.data)
    known = {f.id for f in graph.frameworks()}
    for fid in bundle.frameworks:
        if fid not in known:
            raise BundleFormatError(f"framework {fid!r} is not among the bundled definitions", where="scope.frameworks")
    evidence = evidence_of(checked)
    try:
        view = build_view(bundle.system, evidence, as_of=bundle.as_of, policy=policy)
    except AssureError as e:
        raise BundleFormatError(str(e), where="entries") from e
    report = compute_coverage(graph, view, policy=policy, frameworks=list(bundle.frameworks))
    return Assessment(graph, policy, evidence, report)


UPCOMING_DAYS = 365
"""The report lists obligations that start to bind the system within this many days."""


def upcoming(graph: ControlGraph, report: CoverageReport, *, policy: ApprovalPolicy,
             days: int = UPCOMING_DAYS) -> list[dict[str, Any]]:
    """Obligations that start to bind ``report``'s system within ``days`` of its as-of, soonest
    first: the same records and rules, assessed with a horizon (the report's own figures stay as they are)."""
    ahead = compute_coverage(graph, report.view, policy=policy, frameworks=[fc.framework_id for fc in report.frameworks],
                             horizon_days=days)
    found = [{"framework": fc.framework_id, "requirement": r.requirement_id, "title": r.title,
              "applies_from": r.applies_from, "reason": r.reason} for fc in ahead.frameworks for r in fc.upcoming]
    return sorted(found, key=lambda u: (u["applies_from"], u["framework"], u["requirement"]))


def coverage_json(report: CoverageReport) -> dict[str, Any]:
    """The coverage JSON as it reads back from a file (tuples become lists, and so on)."""
    return json.loads(json.dumps(report.to_json(details=True)))  # type: ignore[no-any-return]


def coverage_figures(coverage: dict[str, Any]) -> dict[str, Any]:
    """The figures of a coverage JSON: percentages, counts, and every requirement's and
    control's status (not the evidence lists, which a database view may trim to the
    deciding records)."""
    return {
        "frameworks": [
            {k: fw[k] for k in ("framework", "percent_covered", "applicable", "counts", "inferred")}
            | {"requirements": [{k: r[k] for k in ("requirement", "status", "inferred")}
                                for r in fw.get("requirements") or []]}
            for fw in coverage["frameworks"]
        ],
        "controls": [{k: c[k] for k in ("control", "status")} for c in coverage.get("controls") or []],
    }


def first_differences(bundled: Any, recomputed: Any, *, path: str = "coverage", limit: int = 5) -> list[str]:
    """Where two coverage JSON values differ, as readable paths (at most ``limit``).

    List items that carry an id (``framework``, ``requirement``, ``control``) are
    named by it, e.g. ``coverage.frameworks[nist-ai-rmf].percent_covered``.
    """
    out: list[str] = []
    _diff(bundled, recomputed, path, out, limit)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: {'only recomputed' if k not in a else 'only in the bundle'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out, limit)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{_item_name(x, i)}]", out, limit)
        return
    out.append(f"{path}: the bundle says {_short(a)}, recomputed {_short(b)}")


def _item_name(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in ("requirement", "framework", "control", "seq"):
            if key in item and isinstance(item[key], (str, int)):
                return str(item[key])
    return str(index)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "…"
