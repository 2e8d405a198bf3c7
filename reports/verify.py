"""``assure verify-package``: check an audit package offline (no database, no network).

Trust comes from outside the zip: the ledger key is either pinned by the auditor
(``--trust-key``) or taken from the manifest, in which case the report says its
fingerprint must be compared with one obtained out of band (anyone can re-sign
a doctored package with a key of their own). With that key:

1. the zip holds exactly the files the manifest lists (no duplicates), the
   manifest's signature verifies and names the ledger key, and every file's
   SHA-256 matches;
2. the checkpoint note verifies with the ledger key, for the bundle's origin;
   tree size and root are taken from it alone (never from a proof);
3. every entry is checked as :mod:`reports.entries` describes: leaf, entry hash,
   inclusion proof, payload hash, signatures, signers trusted for the kind at
   the time per the bundled key events; the package key must be an admin key;
4. the bundle carries exactly the entries its scope lists, all in scope;
5. the definition files match their hashes, and coverage recomputed from the
   bundle alone equals the bundle's coverage and the figures ``audit.pdf`` states,
   the PDF carries ``bundle.json`` and shows key and root on every page;
6. every earlier checkpoint the bundle carries verifies and is consistent with
   the package checkpoint; with ``checkpoint_note`` (one the auditor obtained
   earlier) a consistency proof from it must be in the bundle and verify.

Everything found wrong is collected as a :class:`~reports.errors.Finding`, so the
report names every altered, removed or added part at once; :attr:`PackageReport.root_cause`
picks the one the others follow from (a manifest that does not verify, not the
files it no longer vouches for). A package that passes every check but was
verified against nothing the auditor holds (no pinned key, no checkpoint) is
*unanchored*, which is a finding: anyone can build an internally consistent
package under a key of their own.

The zip is read member by member with caps on the number of members, each
member's size, the total size and the compression ratio, so a zip bomb fails
in seconds with bounded memory.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFormatError,
    open_checkpoint,
    parse_note,
)
from ledger.errors import InputError
from ledger.keys import PublicKey
from ledger.merkle import ProofError, verify_consistency
from ledger.records import LEDGER_KINDS, ORG_WIDE
from ledger.registry import Registry
from reports.assess import Assessment, assess, coverage_json, first_differences
from reports.bundle import BUNDLE_NAME, Bundle
from reports.completeness import check_completeness
from reports.entries import EntryCheck, check_entries
from reports.errors import BundleFormatError, Finding
from reports.manifest import MANIFEST_NAME, Manifest, open_manifest
from reports.model import coverage_statement
from reports.pdfcheck import PDF_NAME, check_pdf

MAX_MEMBERS = 16
"""A package holds three files; a zip with many members is not one."""
MAX_TOTAL_BYTES = 1 << 30
"""Uncompressed bytes read from one package, all members together."""
MAX_RATIO = 20
"""Uncompressed bytes per compressed byte a member may expand to (bundles compress 3-5x, PDFs ~1x)."""
_CHUNK = 1 << 20

#: Where a finding is, in the order one failure leads to the next: the first present is the root cause.
_CAUSE_ORDER = ("zip", "manifest.json", "checkpoint", "bundle.json", "audit.pdf", "entry", "completeness",
                "coverage", "definition", "consistency", "--checkpoint", "anchor")
REQUIRED_FILES = (BUNDLE_NAME, PDF_NAME)


@dataclass
class PackageReport:
    """The outcome of :func:`verify_package`.

    Attributes:
        path: the package file.
        key_id: the fingerprint of the key the manifest is signed with (if it verified).
        pinned: the fingerprint of the key the auditor pinned with ``--trust-key``, if any.
        manifest: what the signed manifest states (None if it did not verify).
        bundle: the parsed bundle (None if it did not parse).
        checkpoint: the verified package checkpoint.
        files: files whose hash matched the manifest.
        entries: entries that passed every check.
        signatures: signatures verified.
        proofs: inclusion proofs verified.
        coverage: recomputed coverage per framework (framework, percent, applicable).
        earlier: earlier ledger checkpoints found consistent with the package's.
        against: the auditor's checkpoint, when it was found consistent.
        complete_up_to: the bundle holds every entry of its scopes below this seq.
        definitions: the definition files and approval policy that are not the
            ones this Assure ships (name, sha256, why): what the auditor should read.
        findings: everything that failed.
    """

    path: str
    key_id: str | None = None
    pinned: str | None = None
    manifest: Manifest | None = None
    bundle: Bundle | None = None
    checkpoint: Checkpoint | None = None
    files: list[str] = field(default_factory=list)
    entries: int = 0
    signatures: int = 0
    proofs: int = 0
    coverage: list[dict[str, Any]] = field(default_factory=list)
    earlier: int = 0
    against: Checkpoint | None = None
    complete_up_to: int | None = None
    definitions: list[dict[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if nothing failed."""
        return not self.findings

    def __bool__(self) -> bool:
        return self.ok

    def fail(self, where: str, reason: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(where, reason))

    @property
    def root_cause(self) -> Finding | None:
        """The finding the others follow from (the earliest in :data:`_CAUSE_ORDER`)."""
        def rank(f: Finding) -> int:
            for i, prefix in enumerate(_CAUSE_ORDER):
                if f.where.startswith(prefix):
                    return i
            return 0 if f.where == self.path else len(_CAUSE_ORDER)
        return min(self.findings, key=rank, default=None)

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``--json``."""
        b, cp = self.bundle, self.checkpoint
        return {
            "ok": self.ok,
            "package": self.path,
            "key_id": self.key_id,
            "key_pinned": self.pinned is not None and self.pinned == self.key_id,
            "pinned_key_id": self.pinned,
            "origin": b.origin if b else None,
            "system": b.system if b else None,
            "as_of": self.manifest.as_of if self.manifest else None,
            "checkpoint": {"size": cp.size, "root": cp.root.hex()} if cp else None,
            "files_verified": self.files,
            "entries_verified": self.entries,
            "signatures_verified": self.signatures,
            "inclusion_proofs_verified": self.proofs,
            "coverage": self.coverage,
            "earlier_checkpoints_consistent": self.earlier,
            "consistent_with": {"size": self.against.size, "root": self.against.root.hex()} if self.against else None,
            "complete_up_to": self.complete_up_to,
            "non_default_definitions": self.definitions,
            "root_cause": {"where": self.root_cause.where, "reason": self.root_cause.reason} if self.root_cause else None,
            "failures": [{"where": f.where, "reason": f.reason} for f in self.findings],
        }


def verify_package(
    path: Path, *, trust_key: PublicKey | None = None, checkpoint_note: str | None = None
) -> PackageReport:
    """Verify an audit package (see the module docstring).

    Args:
        path: the package zip.
        trust_key: the ledger key the auditor pins; a package signed by any
            other key fails.
        checkpoint_note: a signed checkpoint of this ledger the auditor obtained
            earlier; the package must prove the ledger only grew since.

    Returns:
        The report; ``report.findings`` lists what failed (empty: verified).

    Raises:
        InputError: if the package cannot be read, or ``checkpoint_note`` is not
            a checkpoint note at all.
        RenderError: if pypdf (needed to read the PDF) is not installed.
    """
    if checkpoint_note is not None:
        try:
            parse_note(checkpoint_note)
        except CheckpointFormatError as e:
            raise InputError(e.reason, source="--checkpoint") from e
    report = PackageReport(path=str(path), pinned=trust_key.key_id if trust_key else None)
    files = _read_zip(path, report)
    if files is None:
        return report
    manifest = _check_manifest(files, report, trust_key)
    key = trust_key or (manifest.key if manifest else None)
    report.key_id = manifest.key.key_id if manifest else None
    try:
        bundle = Bundle.from_bytes(files[BUNDLE_NAME]) if BUNDLE_NAME in files else None
    except BundleFormatError as e:
        report.fail(BUNDLE_NAME, e.reason)
        bundle = None
    if bundle is None:
        return report
    report.bundle = bundle
    cp = _check_checkpoint(bundle, manifest, key, report)
    check = check_entries(bundle.entries, origin=bundle.origin, size=cp.size if cp else None,
                          root=cp.root if cp else None)
    report.findings.extend(check.findings)
    report.entries, report.signatures, report.proofs = len(check.checked), check.signatures, check.proofs
    _check_scope(bundle, check, report)
    complete = check_completeness(bundle, check.checked)
    report.findings.extend(complete.findings)
    report.complete_up_to = complete.up_to
    report.definitions = non_default_definitions(bundle)
    _check_signing_key(key, check.registry, cp, report)
    assessment = _check_coverage(bundle, check, report)
    if PDF_NAME in files and BUNDLE_NAME in files:
        statements = [coverage_statement(fw) for fw in (
            coverage_json(assessment.report) if assessment else bundle.coverage)["frameworks"]]
        report.findings.extend(check_pdf(
            files[PDF_NAME], bundle=files[BUNDLE_NAME], statements=statements,
            key_id=key.key_id if key else None, root_hex=cp.root.hex() if cp else None,
        ))
    if cp is not None:
        _check_earlier(bundle, cp, check.registry, report)
        if checkpoint_note is not None:
            _check_against(checkpoint_note, bundle, cp, trust_key, check.registry, report)
    if trust_key is None and checkpoint_note is None:
        report.fail("anchor", "the package is internally consistent, but unanchored: nothing ties it to the "
                    "ledger you mean (anyone can build such a package under a key of their own). Pin the ledger "
                    "key obtained out of band with --trust-key PUB, or give a checkpoint of this ledger you hold "
                    "with --checkpoint FILE")
    return report


def non_default_definitions(bundle: Bundle) -> list[dict[str, str]]:
    """The bundle's framework, control and policy files that differ from the ones this Assure ships.

    A user-supplied catalog or a non-default approval policy changes what
    "covered" means; the auditor should know, whatever the producer labelled them.
    """
    from controls.approvals import DEFAULT_POLICY
    from frameworks.loader import BUILTIN_DIR, builtin_files

    shipped = {p.relative_to(BUILTIN_DIR).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in builtin_files()}
    shipped[DEFAULT_POLICY.name] = hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest()
    out = []
    for d in (*bundle.definitions, bundle.policy):
        if shipped.get(d.name) == d.sha256:
            continue
        why = ("labelled built-in, but not this Assure's file of that name (another version, or edited)"
               if d.origin == "builtin" else "supplied by the organisation")
        out.append({"name": d.name, "sha256": d.sha256, "why": why})
    return out


def _read_zip(path: Path, report: PackageReport) -> dict[str, bytes] | None:
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError as e:
        raise InputError("no such file", source=str(path)) from e
    except (zipfile.BadZipFile, OSError) as e:
        report.fail(str(path), f"not a readable package zip ({e})")
        return None
    files: dict[str, bytes] = {}
    with z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            report.fail("zip", f"holds {len(infos)} members; a package holds {len(REQUIRED_FILES) + 1}")
            return None
        for name, n in Counter(i.filename for i in infos).items():
            if n > 1:
                report.fail(name, f"the zip holds {n} files with this name")
        budget = MAX_TOTAL_BYTES
        for info in infos:
            if info.filename in files:
                continue
            data = _read_member(z, info, budget, report)
            if data is None:
                return None
            budget -= len(data)
            files[info.filename] = data
    return files


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, report: PackageReport) -> bytes | None:
    """A member's bytes, read a chunk at a time and refused past the caps (whatever its header claims)."""
    cap = min(budget, MAX_RATIO * max(info.compress_size, 1) + _CHUNK)
    chunks: list[bytes] = []
    size = 0
    try:
        with z.open(info) as member:
            while chunk := member.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    why = ("the package's total size cap" if cap == budget else
                           f"{MAX_RATIO} times its compressed size")
                    report.fail("zip", f"{info.filename} expands past {why}: a zip bomb, or not a package")
                    return None
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
        report.fail(info.filename, f"cannot be read from the zip: it was altered ({e})")
        return b""
    return b"".join(chunks)


def _check_manifest(files: dict[str, bytes], report: PackageReport, trust_key: PublicKey | None) -> Manifest | None:
    if MANIFEST_NAME not in files:
        report.fail(MANIFEST_NAME, "missing: the package has no signed manifest")
        manifest = None
    else:
        try:
            manifest, _ = open_manifest(files[MANIFEST_NAME])
        except BundleFormatError as e:
            report.fail(MANIFEST_NAME, e.reason.removeprefix(f"{MANIFEST_NAME}: "))
            return None  # the files are not "added": the manifest that would list them does not verify
    if manifest is not None:
        report.manifest = manifest
        if trust_key is not None and manifest.key != trust_key:
            report.fail(MANIFEST_NAME, f"signed by key {manifest.key.key_id}, not the pinned ledger key "
                        f"{trust_key.key_id} (--trust-key)")
        for name, (sha, _) in sorted(manifest.files.items()):
            if name not in files:
                report.fail(name, "listed in the signed manifest but missing from the package (removed)")
            elif hashlib.sha256(files[name]).hexdigest() != sha:
                report.fail(name, "its SHA-256 does not match the signed manifest: the file was altered")
            else:
                report.files.append(name)
    listed = set(manifest.files) if manifest else set()
    for name in sorted(files):
        if name != MANIFEST_NAME and name not in listed:
            report.fail(name, "not listed in the signed manifest (a file was added)")
    for name in REQUIRED_FILES:
        if name not in files and name not in listed:
            report.fail(name, "missing from the package")
    return manifest


def _check_checkpoint(
    bundle: Bundle, manifest: Manifest | None, key: PublicKey | None, report: PackageReport
) -> Checkpoint | None:
    if manifest is not None:
        for what, stated, actual in (("origin", manifest.origin, bundle.origin),
                                     ("system", manifest.system, bundle.system)):
            if stated != actual:
                report.fail(MANIFEST_NAME, f"names {what} {stated!r} but bundle.json {actual!r}")
    if key is None:
        report.fail("checkpoint", "cannot be verified: no ledger key (no valid manifest and no --trust-key)")
        return None
    try:
        cp = open_checkpoint(bundle.checkpoint_note, origin=bundle.origin, keys=[(bundle.origin, key)])
    except CheckpointError as e:
        report.fail("checkpoint", f"does not verify with the ledger key {key.key_id[:16]}…: {e}")
        return None
    except ValueError as e:
        report.fail("checkpoint", f"cannot be verified: {e}")
        return None
    if manifest is not None and (manifest.checkpoint_size, manifest.checkpoint_root) != (cp.size, cp.root.hex()):
        report.fail(MANIFEST_NAME, "states another checkpoint than the one bundle.json carries")
    report.checkpoint = cp
    return cp


def _check_scope(bundle: Bundle, check: EntryCheck, report: PackageReport) -> None:
    carried = {e.seq for e in bundle.entries}
    listed = set(bundle.seqs)
    for seq in sorted(listed - carried):
        report.fail(f"entry {seq}", "listed in the package scope but missing from bundle.json (a record was removed)")
    for seq in sorted(carried - listed):
        report.fail(f"entry {seq}", "in bundle.json but not listed in the package scope (a record was added)")
    for c in check.checked:
        if c.leaf.kind in LEDGER_KINDS:
            continue
        system = getattr(c.record, "system", None)
        if system not in (bundle.system, ORG_WIDE):  # (records received after as-of count toward completeness)
            report.fail(f"entry {c.entry.seq}", f"is outside the package scope (system {system!r})")


def _check_signing_key(key: PublicKey | None, registry: Registry, cp: Checkpoint | None, report: PackageReport) -> None:
    if key is None:
        return
    state = registry.get(key.key_id)
    if state is None or state.role != "admin":
        report.fail(MANIFEST_NAME, f"the package key {key.key_id[:16]}… is not an admin key of this ledger "
                    "per the bundled key events")
    elif state.revoked_seq is not None and (cp is None or state.revoked_seq < cp.size):
        report.fail(MANIFEST_NAME, f"the package key {key.key_id[:16]}… was revoked at entry {state.revoked_seq}")


def _check_coverage(bundle: Bundle, check: EntryCheck, report: PackageReport) -> Assessment | None:
    for d in (*bundle.definitions, bundle.policy):
        if hashlib.sha256(d.data).hexdigest() != d.sha256:
            report.fail(f"definition {d.name}", "its content does not match its SHA-256 in bundle.json")
    try:
        assessment = assess(bundle, check.checked)
    except BundleFormatError as e:
        report.fail("coverage", f"cannot be recomputed: {e}")
        return None
    recomputed = coverage_json(assessment.report)
    diffs = first_differences(bundle.coverage, recomputed)
    if diffs:
        report.fail("coverage", "recomputed from the bundle's records, it differs from bundle.json: " + "; ".join(diffs))
    report.coverage = [
        {"framework": f["framework"], "percent_covered": f["percent_covered"], "applicable": f["applicable"]}
        for f in recomputed["frameworks"]
    ]
    return assessment


def _admin_keys(registry: Registry, origin: str) -> list[tuple[str, PublicKey]]:
    return [(origin, PublicKey(k.public_key)) for k in registry if k.role == "admin"]


def _check_earlier(bundle: Bundle, cp: Checkpoint, registry: Registry, report: PackageReport) -> None:
    keys = _admin_keys(registry, bundle.origin)
    for e in bundle.earlier:
        where = f"earlier checkpoint of size {e.size}"
        try:
            old = open_checkpoint(e.note, origin=bundle.origin, keys=keys)
        except (CheckpointError, ValueError) as err:
            report.fail(where, f"does not verify with the ledger's admin keys: {err}")
            continue
        if old.size != e.size:
            report.fail(where, f"its note says size {old.size}")
            continue
        try:
            verify_consistency(old.size, cp.size, old.root, cp.root, e.proof)
        except ProofError as err:
            report.fail(where, f"the ledger is not shown to extend it: {err.reason}")
            continue
        report.earlier += 1


def _check_against(
    note: str, bundle: Bundle, cp: Checkpoint, trust_key: PublicKey | None, registry: Registry,
    report: PackageReport,
) -> None:
    keys = [(bundle.origin, trust_key)] if trust_key else _admin_keys(registry, bundle.origin)
    try:
        mine = open_checkpoint(note, origin=bundle.origin, keys=keys)
    except (CheckpointError, ValueError) as e:
        report.fail("--checkpoint", f"does not verify with the ledger key for origin {bundle.origin!r}: {e}")
        return
    if mine.size > cp.size:
        report.fail("--checkpoint", f"your checkpoint (size {mine.size}) is newer than the package's "
                    f"(size {cp.size}): the package cannot show the ledger extends it; ask for a newer package")
        return
    if mine.size == cp.size:
        proof: tuple[bytes, ...] = ()
    else:
        found = [e.proof for e in bundle.earlier if e.size == mine.size]
        if not found:
            sizes = ", ".join(str(e.size) for e in bundle.earlier) or "none"
            report.fail("--checkpoint", f"the package carries no consistency proof from size {mine.size} "
                        f"(it has proofs from sizes: {sizes}); the ledger does not list your checkpoint")
            return
        proof = found[0]
    try:
        verify_consistency(mine.size, cp.size, mine.root, cp.root, proof)
    except ProofError as e:
        report.fail("--checkpoint", f"the package's ledger does not extend your checkpoint of size {mine.size}: "
                    f"{e.reason} (history was rewritten, or this is another ledger)")
        return
    report.against = mine
