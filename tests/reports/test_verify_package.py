"""verify-package: an untouched package verifies; every alteration fails, naming what.

Most tampering leaves the manifest as it was, so its hash check fails *and* the
deeper check names the altered record or proof. Some tests re-sign the manifest
with the ledger key (an insider with the key) to show the deeper checks alone
catch the change, or with a stranger's key (a forger) to show pinning.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import pytest

from controls.graph import load_graph
from ledger import migrate
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.db import make_engine
from ledger.store import Ledger
from reports.package import build_package
from tests.reports.conftest import (
    AS_OF,
    SIGNED_AT,
    edit_bundle,
    populate,
    resign,
    rezip,
    unzip,
)

pytestmark = pytest.mark.pdf  # every test here verifies the package the session fixture renders


def verify(run_cli, write, data: bytes, *args: str) -> Any:
    return run_cli("verify-package", str(write(data)), *args)


def failures(result) -> list[str]:
    """Every finding printed: the root cause on the FAILED line, then the rest."""
    lines = [line.strip() for line in result.stderr.splitlines()]
    return ([line.removeprefix("FAILED: ") for line in lines if line.startswith("FAILED: ")]
            + [line[2:] for line in lines if line.startswith("- ")])


def test_untouched_package_verifies_with_pinned_key_and_earlier_checkpoint(run_cli, write, world) -> None:
    r = verify(run_cli, write, world.package, "--trust-key", str(world.dir / "keys/admin.pem.pub"),
               "--checkpoint", str(world.dir / "cp1.txt"))
    assert r.exit_code == 0, r.output
    assert "OK: the package verifies" in r.stdout
    assert "the ledger key pinned with --trust-key" in r.stdout
    cp1 = world.checkpoints["cp1"][0]
    assert f"the ledger extends your checkpoint of size {cp1.size}" in r.stdout
    assert "consistent with 2 earlier checkpoint(s)" in r.stdout
    for f in world.result.report.frameworks:
        assert f"coverage    {f.framework_id} {f.percent}% of {f.applicable} applicable" in r.stdout


def test_an_unanchored_package_is_not_ok(run_cli, write, world) -> None:
    r = verify(run_cli, write, world.package)
    assert r.exit_code == 1, r.output
    assert world.keys.admin.public.key_id in r.stdout  # the fingerprint to compare out of band
    (cause,) = failures(r)  # one line, and nothing else failed
    assert cause.startswith("anchor: the package is internally consistent, but unanchored")
    assert "--trust-key PUB" in cause and "--checkpoint FILE" in cause
    # Anchored by a checkpoint the auditor holds, without pinning the key, it verifies.
    assert verify(run_cli, write, world.package, "--checkpoint", str(world.dir / "cp1.txt")).exit_code == 0


@pytest.mark.pdf
def test_a_package_forged_end_to_end_under_a_new_key_is_refused(run_cli, write, world, tmp_path) -> None:
    """A fresh ledger with the same origin, built by someone holding only a key of their own."""
    from tests.conftest import Keys, fixed_key

    forger = Keys(*(fixed_key("forged-" + n) for n in ("admin", "pipeline", "approver", "approver2", "auditor",
                                                        "stranger")))
    engine = make_engine(f"sqlite:///{tmp_path / 'forged.db'}")
    migrate.upgrade(engine)
    populate(Ledger(engine), forger)
    forged = build_package(engine, "credit-scoring", admin_key=forger.admin, graph=load_graph(user_dir=None),
                           as_of=AS_OF, now=SIGNED_AT).data
    engine.dispose()
    r = verify(run_cli, write, forged)
    assert r.exit_code == 1 and failures(r)[0].startswith("anchor: ")  # consistent in itself, and not OK
    r = verify(run_cli, write, forged, "--trust-key", str(world.dir / "keys/admin.pem.pub"))
    assert r.exit_code == 1 and failures(r)[0].startswith("manifest.json: signed by key")
    r = verify(run_cli, write, forged, "--checkpoint", str(world.dir / "cp1.txt"))
    assert r.exit_code == 1 and any(f.startswith("--checkpoint: does not verify") for f in failures(r))


def _entry_index(bundle: dict[str, Any], kind: str) -> int:
    for i, e in enumerate(bundle["entries"]):
        leaf = json.loads(base64.b64decode(e["leaf"]))
        if leaf["kind"] == kind:
            return i
    raise AssertionError(kind)


def _flip_pdf_byte(files):
    pdf = bytearray(files["audit.pdf"])
    pdf[len(pdf) // 2] ^= 0x01
    return files | {"audit.pdf": bytes(pdf)}


def _flip_bundle_byte(files):
    data = files["bundle.json"]
    i = data.index(b'"title":') + 10
    return files | {"bundle.json": data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]}


def _alter_record(bundle):
    e = bundle["entries"][_entry_index(bundle, "evaluation")]
    record = json.loads(base64.b64decode(e["envelope"]["payload"]))
    record["passed"] = not record["passed"]
    e["envelope"]["payload"] = base64.b64encode(json.dumps(record, separators=(",", ":"), sort_keys=True).encode()).decode()


def _alter_proof(bundle):
    e = bundle["entries"][_entry_index(bundle, "evaluation")]
    h = bytearray.fromhex(e["inclusion_proof"][0])
    h[0] ^= 0x80
    e["inclusion_proof"][0] = h.hex()


def _drop_record(bundle):
    del bundle["entries"][_entry_index(bundle, "exception")]


def _seq_of(bundle, kind):
    return bundle["entries"][_entry_index(bundle, kind)]["seq"]


@pytest.mark.parametrize(
    ("tamper", "where", "reason"),
    [
        (_flip_pdf_byte, "audit.pdf", "SHA-256 does not match the signed manifest"),
        (_flip_bundle_byte, "bundle.json", "SHA-256 does not match the signed manifest"),
        (lambda f: edit_bundle(f, _alter_record), "entry {evaluation}", "does not match its leaf's payload_sha256"),
        (lambda f: edit_bundle(f, _alter_proof), "entry {evaluation}", "inclusion proof does not verify"),
        (lambda f: edit_bundle(f, _drop_record), "entry {exception}", "missing from bundle.json (a record was removed)"),
        (lambda f: f | {"notes.txt": b"trust me"}, "notes.txt", "not listed in the signed manifest (a file was added)"),
        (lambda f: {k: v for k, v in f.items() if k != "audit.pdf"}, "audit.pdf", "missing from the package (removed)"),
        (lambda f: {k: v for k, v in f.items() if k != "manifest.json"}, "manifest.json", "no signed manifest"),
    ],
    ids=["pdf-byte", "bundle-byte", "record", "proof", "dropped-record", "added-file", "removed-file", "no-manifest"],
)
def test_tampering_fails_naming_what(run_cli, write, world, tamper, where, reason) -> None:
    files = unzip(world.package)
    bundle = json.loads(files["bundle.json"])
    where = where.format(evaluation=_seq_of(bundle, "evaluation"), exception=_seq_of(bundle, "exception"))
    r = verify(run_cli, write, rezip(tamper(files)), "--trust-key", str(world.dir / "keys/admin.pem.pub"))
    assert r.exit_code == 1, r.output
    assert "FAILED" in r.stderr
    assert any(f.startswith(where + ":") and reason in f for f in failures(r)), failures(r)


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        (_alter_record, "entry {evaluation}", "does not match its leaf's payload_sha256"),
        (_alter_proof, "entry {evaluation}", "inclusion proof does not verify"),
        (lambda b: b["coverage"]["frameworks"][0].update(percent_covered=99.9), "coverage", "percent_covered"),
        (lambda b: b["definitions"][0].update(content=b["definitions"][0]["content"] + "#"),
         "definition nist-ai-rmf.yaml", "does not match its SHA-256"),
    ],
    ids=["record", "proof", "coverage", "definition"],
)
def test_insider_resigning_the_manifest_is_still_caught(run_cli, write, world, change, where, reason) -> None:
    files = unzip(world.package)
    bundle = json.loads(files["bundle.json"])
    where = where.format(evaluation=_seq_of(bundle, "evaluation"))
    files = resign(edit_bundle(files, change), world.keys.admin)
    r = verify(run_cli, write, rezip(files), "--trust-key", str(world.dir / "keys/admin.pem.pub"))
    assert r.exit_code == 1, r.output
    found = failures(r)
    assert not any(f.startswith("bundle.json:") for f in found)  # the manifest matches: only the content check fails
    assert any(f.startswith(where + ":") and reason in f for f in found), found


def test_package_signed_by_another_key_fails_when_the_key_is_pinned(run_cli, write, world) -> None:
    forged = resign(unzip(world.package), world.keys.stranger)
    r = verify(run_cli, write, rezip(forged), "--trust-key", str(world.dir / "keys/admin.pem.pub"))
    assert r.exit_code == 1
    assert any(f.startswith("manifest.json: signed by key " + world.keys.stranger.public.key_id) and
               "not the pinned ledger key" in f for f in failures(r)), failures(r)
    # Unpinned, the forger's key is shown, and it is not a key of this ledger: the checkpoint fails too.
    r = verify(run_cli, write, rezip(forged))
    assert r.exit_code == 1
    assert world.keys.stranger.public.key_id in r.stdout
    assert any(f.startswith("checkpoint: does not verify") for f in failures(r))
    assert any("is not an admin key of this ledger" in f for f in failures(r))
    # The genuine package, pinned to the wrong key, fails as well.
    r = verify(run_cli, write, world.package, "--trust-key", str(world.dir / "keys/stranger.pem.pub"))
    assert r.exit_code == 1 and any("not the pinned ledger key" in f for f in failures(r))
    assert "NOT the ledger key pinned with --trust-key" in r.stdout


def test_a_pdf_stating_other_figures_fails(run_cli, write, world) -> None:
    pypdf = pytest.importorskip("pypdf")
    files = unzip(world.package)
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("bundle.json", files["bundle.json"])
    out = io.BytesIO()
    writer.write(out)
    files = resign(files | {"audit.pdf": out.getvalue()}, world.keys.admin)
    r = verify(run_cli, write, rezip(files))
    assert r.exit_code == 1
    found = failures(r)
    first = world.result.bundle.coverage["frameworks"][0]["framework"]
    assert any(f.startswith("audit.pdf: does not state the recomputed coverage") and first in f for f in found), found
    assert "audit.pdf page 1: its footer does not show the package key fingerprint" in found


def test_checkpoint_from_another_history_fails(run_cli, write, world, tmp_path) -> None:
    # The ledger key signed a checkpoint of the same size with another root: a rewritten history.
    cp1, _ = world.checkpoints["cp1"]
    forged = Checkpoint(cp1.origin, cp1.size, bytes(32))
    (tmp_path / "mine.txt").write_text(sign_checkpoint(forged, name=cp1.origin, key=world.keys.admin))
    r = verify(run_cli, write, world.package, "--checkpoint", str(tmp_path / "mine.txt"))
    assert r.exit_code == 1
    assert any(f.startswith("--checkpoint: the package's ledger does not extend your checkpoint") for f in failures(r))
    # A checkpoint newer than the package cannot be shown to be extended.
    newer = Checkpoint(cp1.origin, world.result.checkpoint.size + 5, bytes(32))
    (tmp_path / "newer.txt").write_text(sign_checkpoint(newer, name=cp1.origin, key=world.keys.admin))
    r = verify(run_cli, write, world.package, "--checkpoint", str(tmp_path / "newer.txt"))
    assert r.exit_code == 1 and any("is newer than the package's" in f for f in failures(r))


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [(b"not a zip", 1, "not a readable package zip"), (None, 2, "does not exist")],
    ids=["not-a-zip", "missing"],
)
def test_unreadable_input(run_cli, write, tmp_path, data, code, message) -> None:
    path = write(data) if data is not None else tmp_path / "nope.zip"
    r = run_cli("verify-package", str(path))
    assert r.exit_code == code
    assert message in r.output


def test_malformed_checkpoint_file_is_bad_input(run_cli, write, world, tmp_path) -> None:
    (tmp_path / "cp.txt").write_text("not a signed note")
    r = verify(run_cli, write, world.package, "--checkpoint", str(tmp_path / "cp.txt"))
    assert r.exit_code == 2
    assert "--checkpoint" in r.stderr


def _drop_record_and_its_scope_line(bundle: dict) -> None:  # type: ignore[type-arg]
    """What an insider who re-signs the manifest would do to hide a failing evaluation."""
    failing = next(e for e in bundle["entries"] if b'"passed":false' in base64.b64decode(e["envelope"]["payload"]))
    bundle["entries"].remove(failing)
    bundle["scope"]["seqs"].remove(failing["seq"])


def test_a_record_removed_with_its_scope_line_is_caught_by_the_scope_index(run_cli, write, world) -> None:
    files = resign(edit_bundle(unzip(world.package), _drop_record_and_its_scope_line), world.keys.admin)
    r = verify(run_cli, write, rezip(files), "--trust-key", str(world.dir / "keys/admin.pem.pub"))
    assert r.exit_code == 1, r.output
    assert any(f.startswith("completeness[credit-scoring]:") and "a record was left out" in f
               for f in failures(r)), failures(r)


def test_the_untouched_package_is_complete_and_names_no_other_system(run_cli, write, world) -> None:
    r = verify(run_cli, write, world.package, "--trust-key", str(world.dir / "keys/admin.pem.pub"), "--json")
    assert r.exit_code == 0, r.output
    bundle = json.loads(unzip(world.package)["bundle.json"])
    assert json.loads(r.stdout)["complete_up_to"] == bundle["completeness"]["index_seq"]
    # The ledger holds another system; its name is nowhere in the bundle (the index proof is hashes only).
    assert b"other-system" not in unzip(world.package)["bundle.json"]


def test_a_non_default_policy_is_reported(run_cli, write, world, db_copy, tmp_path) -> None:
    import yaml

    r = verify(run_cli, write, world.package, "--trust-key", str(world.dir / "keys/admin.pem.pub"))
    assert "as shipped with this Assure" in r.stdout
    engine = make_engine(db_copy)
    policy = tmp_path / "lenient.yaml"
    rule = {"approvers": 1, "roles": ["approver"]}
    policy.write_text(yaml.safe_dump({"format": "assure-approval-policy/1", "decisions": {
        "other": {"low": rule, "medium": rule, "high": rule}}}))
    lenient = build_package(engine, "credit-scoring", admin_key=world.keys.admin, graph=load_graph(user_dir=None),
                            policy_path=policy, as_of=AS_OF, now=SIGNED_AT).data
    engine.dispose()
    r = verify(run_cli, write, lenient, "--trust-key", str(world.dir / "keys/admin.pem.pub"), "--json")
    assert json.loads(r.stdout)["non_default_definitions"] == [
        {"name": "lenient.yaml", "sha256": hashlib.sha256(policy.read_bytes()).hexdigest(),
         "why": "supplied by the organisation"}]


def test_a_long_pdf_is_read_in_parallel_with_the_same_text_and_findings(world, monkeypatch) -> None:
    """A package of a large system has hundreds of pages: they are read by several processes."""
    import os

    pypdf = pytest.importorskip("pypdf")
    from reports import pdfcheck

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: pages are read in this process")
    pdf = unzip(world.package)["audit.pdf"]
    pdfcheck.read_pdf.cache_clear()
    alone = pdfcheck.read_pdf(pdf)
    assert len(alone.pages) >= 3
    pdfcheck.read_pdf.cache_clear()
    monkeypatch.setattr(pdfcheck, "_workers", lambda size, count: 2)
    monkeypatch.setattr(pdfcheck, "_PAGES_AT_ONCE", 2)  # several pieces, joined in page order
    started = []
    real = pdfcheck._pages_in_parallel
    monkeypatch.setattr(pdfcheck, "_pages_in_parallel", lambda *a: started.append(a[2]) or real(*a))
    assert pdfcheck.read_pdf(pdf) == alone and started and started[0] >= 2
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf))  # one more page, without the footer
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    bundle = unzip(world.package)["bundle.json"]
    from ledger.checkpoint import parse_note

    key_id = world.keys.admin.public.key_id
    root = Checkpoint.from_body(parse_note(world.result.bundle.checkpoint_note)[0]).root.hex()
    assert all(key_id in page and root in page for page in alone.pages)
    found = pdfcheck.check_pdf(out.getvalue(), bundle=bundle, statements=[], key_id=key_id, root_hex=root)
    last = len(alone.pages) + 1
    assert [(f.where, f.reason) for f in found] == [
        (f"audit.pdf page {last}", "its footer does not show the package key fingerprint"),
        (f"audit.pdf page {last}", "its footer does not show the checkpoint root")]
    pdfcheck.read_pdf.cache_clear()


def test_only_a_long_pdf_of_real_pages_is_read_in_parallel(monkeypatch) -> None:
    """Each process holds the whole PDF: a hostile one of many cheap pages, or a huge one, is
    read in this process, and never by more than four."""
    from reports import pdfcheck

    monkeypatch.setattr(pdfcheck.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert pdfcheck._workers(287 * 40_000, 287) == 4  # a 10,000-record package on 16 cores
    assert pdfcheck._workers(79 * 40_000, 79) == 1  # under 40 pages a process
    assert pdfcheck._workers(120 * 40_000, 120) == 3
    assert pdfcheck._workers(60_000 * 125, 60_000) == 1  # blank pages: nothing worth a process
    assert pdfcheck._workers(200 << 20, 5_000) == 1  # over 64 MiB: one copy only
    assert pdfcheck._workers(0, 0) == 1
