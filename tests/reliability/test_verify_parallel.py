"""``assure verify`` split over worker processes reports what an entry-by-entry check would.

Chunks are made tiny (3 entries) and workers start at any size, so every
ledger here crosses many chunk boundaries and several key events: the registry
a chunk is checked against must be the one in force at its entries, and when
the main process (chain links) and a worker (everything else) both find a
problem the first one in sequence order, and on one entry the first check in
order, must be the one reported.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from ledger import reindex, verify
from ledger.checkpoints import issue_checkpoint
from ledger.reindex import projection_differences
from ledger.store import Ledger, revoke_key, trust_key
from ledger.verify import verify_connection
from tests.conftest import append_behind_the_back, docs, eval_record, fixed_key
from tests.ledger.test_tamper import Tamper, apply, tampering, tampers

CI2 = fixed_key("ci-2")
LATER = "2030-01-01T00:00:00Z"  # received after every key event of the fixture


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "CHUNK", 3)
    monkeypatch.setattr(verify, "PARALLEL_THRESHOLD", 0)


@pytest.fixture
def rotated(ledger: Ledger, keys, small_chunks: None) -> Ledger:
    """~27 entries: approver2 signs then is revoked, ci-2 is trusted mid-way and signs, a checkpoint."""
    for i in range(4):
        ledger.append(docs(eval_record(suite=f"a2-{i}")), signing_key=keys.approver2)
    trust_key(ledger, keys.admin, CI2.public, role="pipeline", owner="ci-2")
    for i in range(5):
        ledger.append(docs(eval_record(suite=f"ci2-{i}")), signing_key=CI2)
    issue_checkpoint(ledger.engine, keys.admin)
    revoke_key(ledger, keys.admin, keys.approver2.public.key_id, reason="left")
    for i in range(9):
        ledger.append(docs(eval_record(suite=f"p-{i}")), signing_key=keys.pipeline if i % 2 else CI2)
    kinds = [r["kind"] for r in ledger.iter_records()]
    # The seqs the tests below tamper with: evaluations, entry 11 a key event between them.
    assert [kinds[s] for s in (9, 10, 11, 15, 21)] == ["evaluation"] * 2 + ["key.trust"] + ["evaluation"] * 2
    return ledger


def _verify(conn: sa.Connection, workers: int = 2) -> verify.VerifyReport:
    return verify_connection(conn, workers=workers)


def test_untampered_ledger_with_key_events_verifies_in_parallel(rotated: Ledger) -> None:
    with rotated.engine.connect() as conn, conn.begin():
        report = _verify(conn)
    assert report.ok, report.failure
    assert report.size == rotated.head().size and report.checkpoints == 1
    assert report.signatures == report.size


def test_a_key_is_judged_by_the_registry_at_each_entry(rotated: Ledger, keys) -> None:
    """approver2's earlier entries pass; one signed after its revocation fails, at its seq."""
    with tampering(rotated.engine) as conn:
        seq = append_behind_the_back(conn, keys.approver2, suite="after-revocation", received_at=LATER)
        append_behind_the_back(conn, keys.pipeline, suite="fine", received_at=LATER)
        report = _verify(conn)
    assert report.failure is not None and report.failure.seq == seq
    assert "revoked" in report.failure.reason


def _set(conn: sa.Connection, seq: int, **cols: bytes) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in cols)
    conn.execute(sa.text(f"UPDATE entry SET {sets} WHERE seq = :seq"), {**cols, "seq": seq})


def _tampered_report(ledger: Ledger, change) -> verify.VerifyReport:  # type: ignore[no-untyped-def]
    with tampering(ledger.engine) as conn:
        change(conn, {r.seq: r for r in conn.exec_driver_sql("SELECT seq, prev_hash, leaf FROM entry")})
        return _verify(conn)


def test_on_one_entry_the_first_check_in_order_is_reported(rotated: Ledger) -> None:
    seq = 15

    def prev_and_leaf_form(conn: sa.Connection, rows: dict) -> None:  # type: ignore[type-arg]
        _set(conn, seq, prev_hash=bytes(32), leaf=rows[seq].leaf + b" ")

    def prev_and_leaf_content(conn: sa.Connection, rows: dict) -> None:  # type: ignore[type-arg]
        leaf = rows[seq].leaf.replace(b'"received_at":"', b'"received_at":"1')
        _set(conn, seq, prev_hash=bytes(32), leaf=leaf)

    first = _tampered_report(rotated, prev_and_leaf_form).failure
    assert first is not None and (first.seq, first.reason.split(":")[0]) == (seq, "leaf is malformed")
    second = _tampered_report(rotated, prev_and_leaf_content).failure
    assert second is not None and (second.seq, second.reason) == (
        seq, "prev_hash does not match the hash of the previous entry")


@pytest.mark.parametrize("later", [10, 21])
def test_the_earliest_failure_wins(rotated: Ledger, later: int) -> None:
    """An early payload problem (found by a worker) beats a later broken link (found by the reader).

    Entry 10 is in the same chunk as entry 9, so the reader meets the broken link
    before any worker has reported; entry 21 is several chunks and key events on.
    """
    def two_problems(conn: sa.Connection, rows: dict) -> None:  # type: ignore[type-arg]
        conn.execute(sa.text("UPDATE payload SET body = :b WHERE sha256 = (SELECT payload_sha256 FROM entry "
                             "WHERE seq = 9)"), {"b": b"{}"})
        _set(conn, later, prev_hash=bytes(32))

    failure = _tampered_report(rotated, two_problems).failure
    assert failure is not None and failure.seq == 9
    assert failure.reason == "payload bytes do not match the leaf's payload_sha256"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=tampers)
def test_any_single_tampering_is_detected_at_its_seq_in_parallel(rotated: Ledger, keys, t: Tamper) -> None:
    with tampering(rotated.engine) as conn:
        expected = apply(conn, t, keys)
        parallel = _verify(conn, workers=2)
        serial = _verify(conn, workers=1)
    assert parallel.failure is not None, f"{t} went undetected"
    assert parallel.failure.seq == expected, f"{t}: {parallel.failure}"
    assert (parallel.failure.seq, parallel.failure.reason) == (serial.failure.seq, serial.failure.reason)


@pytest.mark.parametrize("edit", [
    None,
    "UPDATE record SET passed = NOT passed WHERE seq = 9",
    "DELETE FROM entry_signer WHERE seq = 15",
    "INSERT INTO record_control (seq, control_id, relation) VALUES (9, 'EVAL-FAIR-01', 'evidence')",
    "UPDATE tree_node SET idx = idx + 1000 WHERE level = 1 AND idx = 3",
])
def test_derived_rows_are_compared_window_by_window_as_the_entries_are_read(
    rotated: Ledger, monkeypatch: pytest.MonkeyPatch, edit: str | None
) -> None:
    """Windows of 4 entries, compared while the entries (3 at a time) are still being read:
    an edited derived row is reported as the stand-alone comparison (``assure reindex --check``)
    names it first; an untouched ledger passes."""
    monkeypatch.setattr(reindex, "WINDOW", 4)
    with tampering(rotated.engine) as conn:
        if edit:
            conn.execute(sa.text(edit))
        report = _verify(conn)
        standalone = list(projection_differences(conn))
    if edit is None:
        assert report.ok and standalone == [], (report.failure, standalone)
        return
    assert report.failure is not None and report.failure.seq is None and standalone
    assert f"derived data differs from the entries: {standalone[0]} " in report.failure.reason
