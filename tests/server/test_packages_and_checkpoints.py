"""Packages over HTTP, and checkpoints signed on demand by a server that holds the ledger key."""

from __future__ import annotations

import pytest

from reports.verify import verify_package


@pytest.mark.pdf
def test_an_auditor_downloads_a_package_that_verifies(ledger, keys, tokens, serve, tmp_path, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("packages do not depend on the serving backend (tests/reports cover both)")
    (tmp_path / "admin.pem").write_bytes(keys.admin.to_pem())
    plain = serve()
    with plain.client(tokens["auditor"]) as c:
        r = c.get("/v1/packages/credit-scoring")
        assert r.status_code == 409 and "--checkpoint-key" in r.json()["detail"]
    server = serve("--checkpoint-key", str(tmp_path / "admin.pem"))
    with server.client(tokens["viewer"]) as c:
        assert c.get("/v1/packages/credit-scoring").status_code == 403
    with server.client(tokens["auditor"]) as c:
        r = c.get("/v1/packages/credit-scoring", params={"framework": "nist-ai-rmf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    (tmp_path / "p.zip").write_bytes(r.content)
    report = verify_package(tmp_path / "p.zip", trust_key=keys.admin.public, checkpoint_note=None)
    assert report.ok, report.to_json()


def test_the_server_signs_a_checkpoint_when_the_tree_grew(ledger, keys, tokens, serve, tmp_path, db_url):
    (tmp_path / "admin.pem").write_bytes(keys.admin.to_pem())
    server = serve("--checkpoint-key", str(tmp_path / "admin.pem"), "--checkpoint-interval", "0.1")
    with server.client(tokens["viewer"]) as c:
        first = c.get("/checkpoint").text
        assert first.split("\n")[1] == str(ledger.head().size)
        assert c.get("/v1/checkpoint").text == first
        from ledger.ingest import Document
        from tests.conftest import eval_record

        ledger.append([Document("e", eval_record(suite="later"))], signing_key=keys.pipeline)
        import time

        time.sleep(0.2)
        second = c.get("/checkpoint").text
        assert second.split("\n")[1] == str(ledger.head().size) and second != first
        proof = c.get("/v1/proof/consistency", params={"from": first.split("\n")[1]}).json()
        assert proof["new_size"] == ledger.head().size and proof["checkpoint"] == second
