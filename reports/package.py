"""Build audit packages and internal reports.

An audit package is a zip of three files:

* ``audit.pdf``: the report an auditor reads (PDF/A-3b, ``bundle.json`` attached);
* ``bundle.json``: what the auditor's tools check (see :mod:`reports.bundle`);
* ``manifest.json``: the SHA-256 of both, signed with the ledger admin key.

:func:`build_package` issues a checkpoint with the admin key at the current
ledger size, collects the bundle, then *verifies its own bundle offline* (entry
checks and coverage recomputed from the bundle alone) and compares that coverage
with what the database says, before rendering and signing anything: a package
that would not verify is never written.

Everything but the manifest's ``signed_at`` is a function of the ledger and
``as_of``: JSON with sorted keys, PDF dates and identifier derived from the
content, zip entries in a fixed order with fixed timestamps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from sqlalchemy.engine import Engine

from controls import service
from controls.approvals import DEFAULT_POLICY, ApprovalPolicy, decisions, load_policy
from controls.coverage import CoverageReport
from controls.graph import ControlGraph
from controls.state import Evidence, SystemView
from ledger.checkpoint import Checkpoint, add_cosignature
from ledger.checkpoints import issue_checkpoint
from ledger.errors import IntegrityError
from ledger.keys import PrivateKey
from ledger.scope_store import commit_scope_index
from ledger.store import Ledger
from ledger.timeutil import utcnow
from reports.assess import (
    Assessment,
    assess,
    coverage_figures,
    coverage_json,
    first_differences,
    upcoming,
)
from reports.bundle import BUNDLE_NAME, Bundle, DefinitionFile
from reports.collect import collect
from reports.completeness import check_completeness
from reports.entries import EntryCheck, check_entries
from reports.manifest import MANIFEST_NAME, Manifest, manifest_time, sign_manifest
from reports.model import PackageInfo, report_context
from reports.pdfcheck import PDF_NAME
from reports.render import PdfAttachment, html_to_pdf, render_html

#: Files in a package, in zip order.
PACKAGE_FILES = (MANIFEST_NAME, BUNDLE_NAME, PDF_NAME)
_ZIP_EPOCH = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class PackageResult:
    """A built package.

    Attributes:
        data: the zip's bytes.
        manifest: what the signed manifest states.
        checkpoint: the checkpoint every proof leads to.
        bundle: the bundle.
        report: the coverage the package states.
    """

    data: bytes
    manifest: Manifest
    checkpoint: Checkpoint
    bundle: Bundle
    report: CoverageReport


def generator() -> str:
    """``assure <version>``, as recorded in bundles and reports."""
    try:
        return f"assure {metadata.version('assure')}"
    except metadata.PackageNotFoundError:
        return "assure (unknown version)"


def policy_file(path: Path | None) -> tuple[ApprovalPolicy, DefinitionFile]:
    """Load an approval policy and keep its exact bytes (default: the built-in one).

    Raises:
        InputError: naming the file and field, if it is not a valid policy.
    """
    path = path or DEFAULT_POLICY
    policy = load_policy(path)
    return policy, DefinitionFile.of(path.name, path.read_bytes(), origin="builtin" if path == DEFAULT_POLICY else "user")


def build_package(
    engine: Engine,
    system: str,
    *,
    admin_key: PrivateKey,
    graph: ControlGraph,
    policy_path: Path | None = None,
    frameworks: list[str] | None = None,
    as_of: dt.datetime,
    now: dt.datetime | None = None,
) -> PackageResult:
    """Build an audit package of ``system`` as of ``as_of``.

    Args:
        engine: the ledger database.
        system: the AI system.
        admin_key: an active admin key: it signs the checkpoint and the manifest.
        graph: the framework library and control catalog to assess against.
        policy_path: the approval policy file (default: built-in).
        frameworks: framework ids (default: every assessable one).
        as_of: the moment the package describes.
        now: the signing time (default: the clock).

    Returns:
        The package.

    Raises:
        InputError: bad arguments (unknown system or framework, not an admin key).
        IntegrityError: the ledger's entries do not verify, or its projections
            disagree with them (run ``assure verify`` / ``assure reindex``).
        RenderError: WeasyPrint is not usable on this machine.
    """
    now = now or utcnow()
    frameworks = service.check_frameworks(graph, frameworks)
    policy, policy_def = policy_file(policy_path)
    db_report = service.coverage(engine, system, graph=graph, policy=policy, frameworks=frameworks, as_of=as_of)
    # Commit the scope index (every entry so far, from signed bytes), then a checkpoint covering it.
    index_seq = commit_scope_index(Ledger(engine), admin_key, now=now)
    checkpoint, note = issue_checkpoint(engine, admin_key, now=now)
    # The stored note may carry another admin key's signature; the package key signs it too.
    note = add_cosignature(note, name=checkpoint.origin, key=admin_key)
    collected = collect(engine, system, checkpoint=checkpoint, index_seq=index_seq)
    bundle = Bundle(
        origin=checkpoint.origin, system=system, as_of=as_of, frameworks=tuple(frameworks),
        seqs=tuple(e.seq for e in collected.entries), checkpoint_note=note, earlier=collected.earlier,
        entries=collected.entries,
        definitions=tuple(DefinitionFile.of(f.name, f.data, origin=f.origin) for f in graph.definition_files()),
        policy=policy_def, coverage={}, generator={"name": generator()}, completeness=collected.completeness,
    )
    check, assessment = _self_check(bundle, checkpoint, db_report)
    bundle = replace(bundle, coverage=coverage_json(assessment.report))
    bundle_bytes = bundle.to_bytes()
    info = PackageInfo(origin=checkpoint.origin, checkpoint_size=checkpoint.size,
                       checkpoint_root=checkpoint.root.hex(), checkpoint_note=note,
                       key_id=admin_key.public.key_id, entries=len(bundle.entries), complete_up_to=index_seq, definitions=bundle.definitions, policy=bundle.policy)
    pdf = render_pdf(assessment, check=check, package=info, bundle_bytes=bundle_bytes)
    files = {BUNDLE_NAME: bundle_bytes, PDF_NAME: pdf}
    manifest = Manifest(
        origin=checkpoint.origin, system=system, as_of=bundle.to_json()["scope"]["as_of"],
        checkpoint_size=checkpoint.size, checkpoint_root=checkpoint.root.hex(),
        files={n: (hashlib.sha256(d).hexdigest(), len(d)) for n, d in files.items()},
        key=admin_key.public, signed_at=manifest_time(now),
    )
    files[MANIFEST_NAME] = sign_manifest(manifest, admin_key)
    data = write_zip([(n, files[n]) for n in PACKAGE_FILES], when=as_of)
    return PackageResult(data, manifest, checkpoint, bundle, assessment.report)


def _self_check(bundle: Bundle, checkpoint: Checkpoint, db_report: CoverageReport) -> tuple[EntryCheck, Assessment]:
    """Verify the bundle's entries offline and recompute its coverage; compare with the database."""
    check = check_entries(bundle.entries, origin=checkpoint.origin, size=checkpoint.size, root=checkpoint.root)
    if check.findings:
        first = check.findings[0]
        raise IntegrityError(f"{first}; run 'assure verify'")
    complete = check_completeness(bundle, check.checked)
    if complete.findings:
        raise IntegrityError(f"{complete.findings[0]} (the database's projections hide a record of this system, "
                             "or its scope index is wrong); run 'assure verify'")
    assessment = assess(bundle, check.checked)
    diffs = first_differences(coverage_figures(coverage_json(db_report)), coverage_figures(coverage_json(assessment.report)))
    if diffs:
        raise IntegrityError(
            "coverage recomputed from the signed entries differs from the database's projections "
            f"({'; '.join(diffs)}); run 'assure verify' and 'assure reindex'"
        )
    return check, assessment


def render_pdf(assessment: Assessment, *, check: EntryCheck, package: PackageInfo, bundle_bytes: bytes) -> bytes:
    """Render ``audit.pdf`` from a recomputed assessment, with ``bundle.json`` attached."""
    report = assessment.report
    context = report_context(
        report, decisions=decisions(report.view, policy=assessment.policy), keys=list(check.registry),
        records=_in_ledger_order(report.view), package=package, generator=generator(), graph=assessment.graph,
        policy=assessment.policy, upcoming=upcoming(assessment.graph, report, policy=assessment.policy),
    )
    return html_to_pdf(
        render_html(context),
        created=report.as_of,
        attachments=[PdfAttachment(BUNDLE_NAME, bundle_bytes, "Audit bundle: entries, proofs, definitions, coverage")],
        identifier=hashlib.sha256(bundle_bytes).digest()[:16],
    )


def _in_ledger_order(view: SystemView) -> list[Evidence]:
    """Every record the view holds, live or not, in ledger order (the evidence index)."""
    return sorted(view.by_hash.values(), key=lambda e: e.seq)


def write_zip(files: list[tuple[str, bytes]], *, when: dt.datetime) -> bytes:
    """A zip with the files in the given order and fixed metadata (same input, same bytes)."""
    t = max(when.astimezone(dt.UTC), _ZIP_EPOCH)
    stamp = (t.year, t.month, t.day, t.hour, t.minute, t.second - t.second % 2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            z.writestr(info, data, compresslevel=6)
    return buf.getvalue()


def build_report(
    engine: Engine,
    system: str,
    *,
    graph: ControlGraph,
    policy: ApprovalPolicy,
    frameworks: list[str] | None = None,
    as_of: dt.datetime,
    fmt: str = "html",
) -> bytes:
    """The internal coverage report (no bundle, no checkpoint, not signed).

    Args:
        engine: the ledger database.
        system: the AI system.
        graph: the framework library and control catalog.
        policy: the approval policy.
        frameworks: framework ids (default: every assessable one).
        as_of: the moment it describes.
        fmt: ``html`` or ``pdf``.

    Returns:
        The document's bytes.

    Raises:
        InputError: unknown system or framework.
        RenderError: ``pdf`` asked for and WeasyPrint is not usable.
    """
    report = service.coverage(engine, system, graph=graph, policy=policy, frameworks=frameworks, as_of=as_of)
    # Coverage loads only the records that decide it; the evidence index lists them all.
    everything = service.system_view(engine, system, as_of=as_of, policy=policy)
    context = report_context(
        report, decisions=decisions(everything, policy=policy), keys=list(Ledger(engine).registry()),
        records=_in_ledger_order(everything), package=None, generator=generator(), graph=graph, policy=policy,
        upcoming=upcoming(graph, report, policy=policy),
    )
    html = render_html(context)
    if fmt == "html":
        return html.encode("utf-8")
    return html_to_pdf(html, created=as_of, variant=None)
