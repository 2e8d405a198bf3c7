"""'assure tokens': made with a role, shown once, stored hashed, listed, revoked."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa


def test_tokens_are_shown_once_and_stored_hashed(ledger, engine, run_cli, db_url):
    r = run_cli("tokens", "create", "--role", "pipeline", "--name", "ci: credit-scoring", "--expires", "90d", db=db_url)
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert token.startswith("assure_") and "shown once" in r.stderr
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT * FROM api_token")).mappings().one()
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(dict(row), default=str)
    listed = json.loads(run_cli("tokens", "list", "--json", db=db_url).stdout)
    assert [(t["role"], t["state"], t["name"]) for t in listed] == [("pipeline", "active", "ci: credit-scoring")]
    assert listed[0]["expires_at"] is not None and token not in json.dumps(listed)
    assert run_cli("tokens", "revoke", listed[0]["token_id"], db=db_url).exit_code == 0
    assert json.loads(run_cli("tokens", "list", "--json", db=db_url).stdout)[0]["state"] == "revoked"


def test_bad_token_requests_are_usage_errors(ledger, run_cli, db_url):
    for args, words in ((["create", "--role", "root", "--name", "x"], "'root' is not one of"),
                        (["create", "--role", "viewer", "--name", "x", "--expires", "soon"], "invalid duration"),
                        (["create", "--role", "viewer", "--name", "a\nb"], "printable"),
                        (["revoke", "nope"], "no token with id")):
        r = run_cli("tokens", *args, db=db_url)
        assert r.exit_code == 2 and words in r.output, (args, r.output)


def test_serve_refuses_what_it_cannot_serve(run_cli, ledger, keys, db_url, tmp_path):
    if db_url.startswith("sqlite"):
        r = run_cli("serve", "--workers", "2", db=db_url)
        assert r.exit_code == 2 and "SQLite is served by one process" in r.output
    r = run_cli("serve", db=f"sqlite:///{tmp_path}/none.db")
    assert r.exit_code == 2 and "no ledger at" in r.output
    (tmp_path / "k.pem").write_bytes(b"not a key")
    r = run_cli("serve", "--checkpoint-key", str(tmp_path / "k.pem"), db=db_url)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    (tmp_path / "ci.pem").write_bytes(keys.pipeline.to_pem())
    r = run_cli("serve", "--checkpoint-key", str(tmp_path / "ci.pem"), db=db_url)
    assert r.exit_code == 2 and "is not an active admin key" in r.output
