"""Building packages and reports: what the PDF states, determinism, scope, errors."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controls.graph import load_graph
from frameworks.loader import load_library, load_library_from_bytes
from ledger.checkpoint import open_checkpoint
from ledger.db import make_engine
from reports.bundle import Bundle
from reports.entries import check_entries
from reports.package import build_package
from tests.conftest import docs, eval_record
from tests.reports.conftest import AS_OF, SIGNED_AT, T0, iso, unzip


def pdf_text(pdf: bytes) -> str:
    pypdf = pytest.importorskip("pypdf")
    return " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.pdf
def test_pdf_states_the_figures_assure_coverage_gives(run_cli, world) -> None:
    r = run_cli("coverage", "--system", "credit-scoring", "--as-of", iso(AS_OF), "--json", db=world.db_url)
    assert r.exit_code == 0, r.output
    expected = json.loads(r.stdout)["frameworks"]
    text = re.sub(r"\s+", " ", pdf_text(unzip(world.package)["audit.pdf"]))
    assert len(expected) == 3
    for fw in expected:
        c = fw["counts"]
        assert f"{fw['framework']}: {fw['percent_covered']}% covered ({c['covered'] + c['excepted']} of " \
               f"{fw['applicable']} applicable requirements" in text
    # The cover page names the system and the checkpoint root; the evidence index every record in scope.
    assert "Credit scoring (credit-scoring)" in text
    assert world.result.checkpoint.root.hex() in text
    assert "Drift alert" in text and "left the company" in text
    assert "who also signed the target (separation of duties)" in text
    # Withdrawals stay visible: who retracted what, and why.
    assert "Withdrawals and reclassifications" in text and "ci (pipeline)" in text
    assert "wrong model card attached" in text and "effective" in text


@pytest.mark.pdf
def test_pdf_is_pdfa_with_the_bundle_attached(world) -> None:
    pypdf = pytest.importorskip("pypdf")
    files = unzip(world.package)
    reader = pypdf.PdfReader(io.BytesIO(files["audit.pdf"]))
    assert reader.attachments["bundle.json"] == [files["bundle.json"]]
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp or b'pdfaid:part="3"' in xmp
    assert reader.metadata["/CreationDate"].startswith("D:" + AS_OF.strftime("%Y%m%d%H%M%S"))
    outline = [o.title for o in reader.outline if not isinstance(o, list)]
    assert "Executive summary" in outline and "How to verify this package" in outline


@pytest.mark.pdf
def test_bundle_scope_proofs_and_checkpoint(world) -> None:
    bundle = Bundle.from_bytes(unzip(world.package)["bundle.json"])
    cp = open_checkpoint(bundle.checkpoint_note, origin="test.example/ledger", keys=[("test.example/ledger", world.keys.admin.public)])
    assert cp == world.result.checkpoint
    kinds = [json.loads(e.leaf)["kind"] for e in bundle.entries]
    systems = {json.loads(e.envelope.payload).get("system") for e in bundle.entries}
    # Every key event (genesis, four trusts, one revocation), the retraction and the org-wide record
    # are in, and so is the record received after as-of (the scope index counts it); the other system is not.
    assert kinds.count("key.trust") == 5 and kinds.count("key.revoke") == 1 and kinds.count("scope_index") == 1
    assert "retract" in kinds and "*" in systems and "other-system" not in systems
    assert any(json.loads(e.leaf)["received_at"] > iso(AS_OF) for e in bundle.entries)
    assert bundle.completeness is not None and bundle.completeness.index_seq == bundle.seqs[-1]
    assert {p.leaf.scope for p in bundle.completeness.scopes} == {"credit-scoring", "*", "keys"}
    assert [c.size for c in bundle.earlier] == [world.checkpoints["cp1"][0].size, world.checkpoints["cp2"][0].size]
    check = check_entries(bundle.entries, origin=bundle.origin, size=cp.size, root=cp.root)
    assert check.ok and check.signatures == len(bundle.entries)


@pytest.mark.pdf
def test_two_builds_differ_only_in_the_signed_time(world, db_copy, keys_s) -> None:
    engine = make_engine(db_copy)
    again = build_package(engine, "credit-scoring", admin_key=keys_s.admin, graph=load_graph(user_dir=None),
                          as_of=AS_OF, now=SIGNED_AT + dt.timedelta(days=3))
    engine.dispose()
    first, second = unzip(world.package), unzip(again.data)
    assert list(first) == list(second) == ["manifest.json", "bundle.json", "audit.pdf"]
    assert first["bundle.json"] == second["bundle.json"]
    assert first["audit.pdf"] == second["audit.pdf"]
    m1, m2 = (json.loads(base64.b64decode(json.loads(f["manifest.json"])["payload"])) for f in (first, second))
    assert m1.pop("signed_at") != m2.pop("signed_at")
    assert m1 == m2


@pytest.mark.pdf
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_altered_byte_of_an_entry_is_named(world, data) -> None:
    bundle = Bundle.from_bytes(unzip(world.package)["bundle.json"])
    cp = world.result.checkpoint
    i = data.draw(st.integers(0, len(bundle.entries) - 1), label="entry")
    entry = bundle.entries[i]
    part = data.draw(st.sampled_from(["leaf", "payload", "proof"]), label="part")
    blob = {"leaf": entry.leaf, "payload": entry.envelope.payload,
            "proof": b"".join(entry.inclusion_proof)}[part]
    if not blob:
        return
    pos = data.draw(st.integers(0, len(blob) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    altered = blob[:pos] + bytes([blob[pos] ^ (1 << bit)]) + blob[pos + 1:]
    from dataclasses import replace

    if part == "leaf":
        entry = replace(entry, leaf=altered)
    elif part == "payload":
        entry = replace(entry, envelope=replace(entry.envelope, payload=altered))
    else:
        entry = replace(entry, inclusion_proof=tuple(altered[k:k + 32] for k in range(0, len(altered), 32)))
    entries = bundle.entries[:i] + (entry,) + bundle.entries[i + 1:]
    check = check_entries(entries, origin=bundle.origin, size=cp.size, root=cp.root)
    assert any(f.where == f"entry {entry.seq}" for f in check.findings)


def test_library_from_bytes_is_the_library_on_disk() -> None:
    disk = load_library(user_dir=None)
    mem = load_library_from_bytes([(f.name, f.data) for f in disk.files])
    assert list(mem.frameworks) == list(disk.frameworks)
    assert set(mem.requirements) == set(disk.requirements) and set(mem.controls) == set(disk.controls)
    assert mem.framework_hashes() == disk.framework_hashes()


@pytest.mark.pdf
def test_package_cli_writes_a_package_that_verifies(run_cli, db_copy, world, tmp_path) -> None:
    r = run_cli("package", "--system", "credit-scoring", "--framework", "nist-ai-rmf", "--as-of", iso(AS_OF),
                "--key", str(world.dir / "keys/admin.pem"), "-o", "p.zip", "--json", db=db_copy)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [c["framework"] for c in out["coverage"]] == ["nist-ai-rmf"]
    assert out["key_id"] == world.keys.admin.public.key_id
    r = run_cli("verify-package", "p.zip", "--trust-key", str(world.dir / "keys/admin.pem.pub"), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["ok"] and data["key_pinned"] and data["failures"] == []
    assert data["key_id"] == data["pinned_key_id"] == world.keys.admin.public.key_id
    assert data["entries_verified"] == out["entries"] == data["inclusion_proofs_verified"]


@pytest.mark.pdf
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--system", "nope"], "system 'nope' is not registered"),
        (["--system", "credit-scoring", "--framework", "sox"], "unknown framework 'sox'"),
        (["--system", "credit-scoring", "--key", "{stranger}"], "is not an active admin key"),
        (["--system", "credit-scoring", "--as-of", "yesterday"], "invalid timestamp"),
    ],
    ids=["unknown-system", "unknown-framework", "not-admin", "bad-as-of"],
)
def test_package_bad_input_exits_2(run_cli, db_copy, world, args, message) -> None:
    args = [a.format(stranger=world.dir / "keys/stranger.pem") for a in args]
    if "--key" not in args:
        args += ["--key", str(world.dir / "keys/admin.pem")]
    r = run_cli("package", *args, "-o", "p.zip", db=db_copy)
    assert r.exit_code == 2, r.output
    assert message in r.stderr


@pytest.mark.pdf
def test_report_html_states_the_coverage(run_cli, world, tmp_path) -> None:
    r = run_cli("report", "--system", "credit-scoring", "--as-of", iso(AS_OF), "-o", "r.html", db=world.db_url)
    assert r.exit_code == 0, r.output
    html = (tmp_path / "r.html").read_text()
    for fw in world.result.bundle.coverage["frameworks"]:
        assert f"{fw['framework']}: {fw['percent_covered']}% covered" in html
    assert "Internal coverage report" in html and "How to verify" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; input drift" in html and "<script>" not in html
    # The evidence index lists every record in scope, not only those that decide coverage
    # (the retracted model card, the evaluations of every suite).
    with make_engine(world.db_url).connect() as c:
        in_scope = c.execute(sa.text("SELECT entry_hash FROM record WHERE system IN ('credit-scoring', '*') "
                                     "AND received_at <= :t"), {"t": AS_OF.strftime("%Y-%m-%d %H:%M:%S.%f")}).scalars().all()
    assert len(in_scope) > 10
    assert [h for h in in_scope if h not in html] == []


@pytest.mark.pdf
def test_report_pdf(run_cli, world, tmp_path) -> None:
    r = run_cli("report", "--system", "credit-scoring", "--format", "pdf", "--as-of", iso(AS_OF), "-o", "r.pdf",
                db=world.db_url)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")


def test_bundle_from_each_backend_recomputes_its_coverage(ledger, keys) -> None:
    """The database half (scope query, proofs from stored nodes, projections) on SQLite and
    PostgreSQL: the collected entries verify offline and recompute the database's coverage."""
    from controls import service
    from controls.approvals import DEFAULT_POLICY, load_policy
    from ledger.checkpoints import issue_checkpoint
    from ledger.scope_store import commit_scope_index
    from reports.assess import assess, coverage_figures, coverage_json
    from reports.bundle import DefinitionFile
    from reports.collect import collect

    when = T0 + dt.timedelta(hours=1)
    ledger.append(docs(eval_record(observed_at=iso(T0))), signing_key=keys.pipeline, now=when)
    org_policy = {"kind": "document", "system": "*", "observed_at": iso(T0), "doc_type": "policy", "title": "AI policy"}
    ledger.append(docs(org_policy), signing_key=keys.pipeline,
                  now=when + dt.timedelta(hours=2))  # received after as-of: out of scope
    index_seq = commit_scope_index(ledger, keys.admin, now=when + dt.timedelta(hours=2))
    cp, note = issue_checkpoint(ledger.engine, keys.admin, now=when + dt.timedelta(hours=2))
    when += dt.timedelta(minutes=30)
    got = collect(ledger.engine, "credit-scoring", checkpoint=cp, index_seq=index_seq)
    assert [json.loads(e.leaf)["kind"] for e in got.entries] == ["key.trust"] * 5 + [
        "system", "model_version", "evaluation", "document", "scope_index"]
    check = check_entries(got.entries, origin=cp.origin, size=cp.size, root=cp.root)
    assert check.ok, check.findings
    graph = load_graph(user_dir=None)
    bundle = Bundle(
        origin=cp.origin, system="credit-scoring", as_of=when, frameworks=("nist-ai-rmf",),
        seqs=tuple(e.seq for e in got.entries), checkpoint_note=note, earlier=got.earlier, entries=got.entries,
        definitions=tuple(DefinitionFile.of(f.name, f.data) for f in graph.definition_files()),
        policy=DefinitionFile.of(DEFAULT_POLICY.name, DEFAULT_POLICY.read_bytes()), coverage={}, generator={},
        completeness=got.completeness,
    )
    from reports.completeness import check_completeness

    assert check_completeness(bundle, check.checked).up_to == index_seq
    offline = assess(bundle, check.checked).report
    db = service.coverage(ledger.engine, "credit-scoring", graph=graph, policy=load_policy(),
                          frameworks=["nist-ai-rmf"], as_of=when)
    assert coverage_figures(coverage_json(offline)) == coverage_figures(coverage_json(db))
