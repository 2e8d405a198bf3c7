"""PostgreSQL: a pipeline role with exactly the grants README.md documents can append, never rewrite.

The SQL is read from README.md ("PostgreSQL: pipelines that can only insert"),
so the test checks what users are told to run. As that role, ``assure append``
(with receipts and a checkpoint), ``keys trust``/``revoke``, ``checkpoint`` and
``verify`` work, while UPDATE, DELETE and TRUNCATE on ``entry`` and ``payload``
are refused by the grants themselves (not only by the append-only triggers,
which the role cannot disable either). PostgreSQL only.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.db import make_engine
from ledger.store import Ledger
from ledger.verify import verify_ledger
from tests.conftest import eval_record, table_bytes

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_grants(role: str, password: str) -> list[str]:
    """The SQL statements of README.md's writer-role section, for ``role``."""
    text = README.read_text()
    section = text[text.index("### PostgreSQL: pipelines that can only insert"):]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block, "README.md has no SQL block in the writer-role section"
    sql = block.group(1).replace("assure_writer", role).replace("'…'", f"'{password}'")
    return [s.strip() for s in sql.split(";") if s.strip()]


@pytest.fixture
def writer_url(ledger: Ledger, db_url: str) -> Iterator[str]:
    """A URL connecting to the test ledger as a fresh role with the documented grants."""
    if not db_url.startswith("postgresql"):
        pytest.skip("roles and grants are PostgreSQL's")
    role, password = f"assure_writer_{uuid.uuid4().hex[:8]}", "writer-pw"
    owner = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as c:
        for stmt in documented_grants(role, password):
            c.exec_driver_sql(stmt)
    user = sa.engine.make_url(db_url).username
    yield db_url.replace(f"//{user}@", f"//{role}:{password}@", 1)
    with owner.connect() as c:
        c.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        c.exec_driver_sql(f"DROP OWNED BY {role}")
        c.exec_driver_sql(f"DROP ROLE {role}")
    owner.dispose()


def test_writer_role_appends_checkpoints_and_verifies(ledger: Ledger, keys, writer_url: str, tmp_path: Path,
                                                      run_cli) -> None:
    (tmp_path / "pipeline.pem").write_bytes(keys.pipeline.to_pem())
    (tmp_path / "admin.pem").write_bytes(keys.admin.to_pem())
    (tmp_path / "new.pem.pub").write_bytes(keys.stranger.public.to_pem())
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(eval_record(suite=f"writer-{i}")) + "\n" for i in range(3)))
    before = ledger.head().size

    r = run_cli("append", "r.jsonl", "--key", "pipeline.pem", "--checkpoint-key", "admin.pem", "--json", db=writer_url)
    assert r.exit_code == 0, r.output
    receipt = json.loads(r.stdout)
    assert [e["seq"] for e in receipt["entries"]] == [before, before + 1, before + 2]
    assert receipt["checkpoint"]
    r = run_cli("keys", "trust", "new.pem.pub", "--role", "pipeline", "--owner", "ci-2", "--key", "admin.pem",
                db=writer_url)
    assert r.exit_code == 0, r.output
    r = run_cli("keys", "revoke", keys.stranger.public.key_id[:16], "--reason", "rotated", "--key", "admin.pem",
                db=writer_url)
    assert r.exit_code == 0, r.output
    assert run_cli("checkpoint", "--key", "admin.pem", db=writer_url).exit_code == 0
    r = run_cli("verify", "--json", db=writer_url)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["entries"] == before + 5


@pytest.mark.parametrize("stmt", [
    "UPDATE entry SET idem_key = 'x' WHERE seq = 1",
    "DELETE FROM entry WHERE seq = 1",
    "TRUNCATE entry CASCADE",
    "UPDATE payload SET body = NULL",
    "DELETE FROM payload",
    "TRUNCATE payload CASCADE",
    # Derived data: a writer can change no role, revocation, validity, signer or projected field.
    "UPDATE key_registry SET role = 'admin'",
    "UPDATE key_registry SET valid_until = NULL",
    "DELETE FROM key_revocation",
    "UPDATE entry_signer SET key_id = 'x'",
    "UPDATE record SET passed = true",
    "DELETE FROM record WHERE kind = 'evaluation'",
    "UPDATE record_control SET relation = 'evidence'",
    "UPDATE checkpoint SET root = root",
])
def test_writer_role_cannot_rewrite_entries_payloads_or_derived_rows(ledger: Ledger, writer_url: str, stmt: str) -> None:
    before = table_bytes(ledger.engine)
    writer = make_engine(writer_url)
    try:
        with pytest.raises(sa.exc.ProgrammingError) as refused, writer.begin() as conn:
            conn.exec_driver_sql(stmt)
    finally:
        writer.dispose()
    assert refused.value.orig.sqlstate == "42501"  # type: ignore[union-attr]
    assert "permission denied for table" in str(refused.value.orig)  # the grant, not the trigger
    assert table_bytes(ledger.engine) == before
    assert verify_ledger(ledger.engine).ok


@pytest.mark.parametrize("stmt", [
    "ALTER TABLE entry DISABLE TRIGGER USER",
    "DROP TRIGGER entry_append_only ON entry",
    "ALTER TABLE payload DISABLE TRIGGER USER",
])
def test_writer_role_cannot_switch_off_the_append_only_triggers(ledger: Ledger, writer_url: str, stmt: str) -> None:
    writer = make_engine(writer_url)
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="must be owner"), writer.begin() as conn:
            conn.exec_driver_sql(stmt)
    finally:
        writer.dispose()
