"""Any single tampering done directly in the database makes verify fail at the right seq.

Each hypothesis example tampers inside a transaction, verifies in that same
transaction (one snapshot), then rolls back, so one ledger serves every example
on both backends. The append-only triggers are dropped inside the transaction:
they are defence in depth, and this test is about what gets past them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.checkpoints import issue_checkpoint
from ledger.store import Ledger, read_head
from ledger.verify import verify_connection
from tests.conftest import (
    append_behind_the_back,
    cut_tail,
    docs,
    drop_append_only_triggers,
    eval_record,
)

N_EXTRA = 14
ENTRY_COLS = ("entry_hash", "prev_hash", "leaf", "payload_sha256", "idem_key")
PAYLOAD_COLS = ("body", "payload_type", "sha256")


@pytest.fixture
def built(ledger: Ledger, keys) -> Ledger:
    """A ledger of ~20 entries with a signed checkpoint at some point."""
    for i in range(N_EXTRA):
        signer = keys.pipeline if i % 3 else keys.approver
        ledger.append(docs(eval_record(suite=f"suite-{i}", passed=bool(i % 4))), signing_key=signer)
        if i == 9:
            issue_checkpoint(ledger.engine, keys.admin)
    return ledger


@contextmanager
def tampering(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection whose append-only triggers are off, in a transaction rolled back afterwards."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            drop_append_only_triggers(conn)
            yield conn
        finally:
            trans.rollback()


def _flip(value: bytes | str, pos: int, mask: int) -> bytes | str:
    if isinstance(value, str):
        i = pos % len(value)
        alphabet = "0123456789abcdef"
        c = alphabet[(alphabet.index(value[i]) + 1 + mask % 15) % 16] if value[i] in alphabet else "x"
        return value[:i] + c + value[i + 1 :]
    i = pos % len(value)
    return value[:i] + bytes([value[i] ^ mask]) + value[i + 1 :]


@dataclass
class Tamper:
    op: str
    seq: int
    other: int
    column: str
    pos: int
    mask: int


tampers = st.builds(
    Tamper,
    op=st.sampled_from(["entry_byte", "payload_byte", "delete", "swap", "move", "forge", "truncate"]),
    seq=st.integers(0, 1000),
    other=st.integers(0, 1000),
    column=st.integers(0, 2).map(str),
    pos=st.integers(0, 10_000),
    mask=st.integers(1, 255),
)


def apply(conn: sa.Connection, t: Tamper, keys) -> int:
    """Apply one tampering; return the seq verify must name."""
    size = read_head(conn).size
    seq = t.seq % size
    rows = {r.seq: r for r in conn.exec_driver_sql("SELECT seq, entry_hash, prev_hash, leaf, payload_sha256, idem_key FROM entry")}
    row = rows[seq]
    if t.op == "entry_byte":
        col = ENTRY_COLS[(t.pos + int(t.column)) % len(ENTRY_COLS)]
        conn.execute(sa.text(f"UPDATE entry SET {col} = :v WHERE seq = :s"),
                     {"v": _flip(getattr(row, col), t.pos, t.mask), "s": seq})
        return seq
    if t.op == "payload_byte":
        col = PAYLOAD_COLS[int(t.column)]
        cur = conn.execute(sa.text(f"SELECT {col} FROM payload WHERE sha256 = :k"), {"k": row.payload_sha256}).scalar_one()
        conn.execute(sa.text(f"UPDATE payload SET {col} = :v WHERE sha256 = :k"),
                     {"v": _flip(cur, t.pos, t.mask), "k": row.payload_sha256})
        return seq
    if t.op == "delete":
        conn.execute(sa.text("DELETE FROM entry WHERE seq = :s"), {"s": seq})
        return seq
    if t.op == "move":
        conn.execute(sa.text("UPDATE entry SET seq = :n WHERE seq = :s"), {"n": size + 100 + seq, "s": seq})
        return seq
    if t.op == "swap":
        other = t.other % size
        if other == seq:
            other = (seq + 1) % size
        a, b = sorted((seq, other))
        for s_from, s_to in ((a, -1), (b, a), (-1, b)):
            conn.execute(sa.text("UPDATE entry SET seq = :t WHERE seq = :f"), {"t": s_to, "f": s_from})
        return a
    if t.op == "forge":
        # A perfectly chained entry appended behind the ledger's back, head updated too,
        # signed by a key the ledger never trusted.
        return append_behind_the_back(conn, keys.stranger, suite="forged", received_at="2026-11-03T00:00:00Z")
    assert t.op == "truncate"
    # Cut the tail below the signed checkpoint and make the head consistent again.
    cp_size = conn.exec_driver_sql("SELECT max(size) FROM checkpoint").scalar_one()
    keep = t.seq % cp_size
    cut_tail(conn, keep)
    return keep


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=tampers)
def test_any_single_tampering_is_detected_at_its_seq(built: Ledger, keys, t: Tamper) -> None:
    with tampering(built.engine) as conn:
        expected = apply(conn, t, keys)
        report = verify_connection(conn, workers=1)
    assert not report.ok, f"{t} went undetected"
    assert report.failure.exit_code == 1
    assert report.failure.seq == expected, f"{t}: {report.failure}"


def test_untampered_ledger_verifies(built: Ledger) -> None:
    with built.engine.connect() as conn, conn.begin():
        report = verify_connection(conn, workers=1)
    assert report.ok, report.failure
    assert report.size == N_EXTRA + 7 and report.checkpoints == 1


def test_append_only_trigger_refuses_update_and_delete(built: Ledger) -> None:
    for stmt in ("UPDATE entry SET idem_key = 'x' WHERE seq = 1", "DELETE FROM entry WHERE seq = 1",
                 "DELETE FROM payload"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), built.engine.begin() as conn:
            conn.exec_driver_sql(stmt)
