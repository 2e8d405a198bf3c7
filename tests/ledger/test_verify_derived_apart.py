"""``verify_ledger`` compares the derived tables in a process of its own, alongside the entry
pass (ledger/derived_check.py), on a ledger large enough for workers. It must report what
the comparison in the verifying transaction reports: the same first difference, and an
entry's own failure before any derived one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledger import derived_check, verify
from ledger.store import Ledger
from ledger.verify import verify_connection, verify_ledger
from tests.conftest import docs, drop_append_only_triggers, eval_record


@pytest.fixture
def apart(ledger: Ledger, keys, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """~20 entries, workers from any size; counts the comparisons started in a child process."""
    for i in range(14):
        ledger.append(docs(eval_record(suite=f"s-{i}", passed=bool(i % 3))), signing_key=keys.pipeline)
    monkeypatch.setattr(verify, "CHUNK", 4)
    monkeypatch.setattr(verify, "PARALLEL_THRESHOLD", 0)
    started: list[int] = []
    real = derived_check.start

    def counting(conn: sa.Connection, since):  # type: ignore[no-untyped-def]
        started.append(1)
        return real(conn, since)

    monkeypatch.setattr(derived_check, "start", counting)
    return started


def _inline(engine: sa.Engine) -> verify.VerifyReport:
    with engine.connect() as conn, conn.begin():
        return verify_connection(conn, workers=2)


def test_an_intact_ledger_passes_with_the_comparison_apart(ledger: Ledger, apart: list[int]) -> None:
    report = verify_ledger(ledger.engine, workers=2)
    assert report.ok, report.failure
    assert apart == [1] and report.size == ledger.head().size and report.state is not None


@pytest.mark.parametrize(("table", "change", "expected"), [
    ("record", "UPDATE record SET passed = NOT passed WHERE seq = 12", "record (12,): passed differ from the entries"),
    ("record_control", "INSERT INTO record_control (seq, control_id, relation) VALUES (9, 'GOV-01', 'evidence')",
     "record_control (9, 'GOV-01', 'evidence'): not derived from any entry"),
    ("entry_signer", "DELETE FROM entry_signer WHERE seq = 15", "entry_signer (15, 0): missing"),
    ("tree_node", "UPDATE tree_node SET hash = :zero WHERE level = 1 AND idx = 3", "tree_node (1, 3): hash differ"),
])
def test_a_changed_derived_row_is_the_same_failure_as_inline(ledger: Ledger, apart: list[int], table: str,
                                                             change: str, expected: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(change), {"zero": bytes(32)})
    report = verify_ledger(ledger.engine, workers=2)
    assert apart == [1]
    assert report.failure is not None and report.failure.seq is None
    assert expected in report.failure.reason, report.failure.reason
    assert report.failure.reason == _inline(ledger.engine).failure.reason  # type: ignore[union-attr]


def test_an_entry_failure_is_reported_before_a_derived_one(ledger: Ledger, apart: list[int]) -> None:
    with ledger.engine.begin() as conn:
        drop_append_only_triggers(conn)
        conn.execute(sa.text("UPDATE record SET passed = NOT passed WHERE seq = 8"))
        conn.execute(sa.text("UPDATE payload SET body = :b WHERE sha256 = (SELECT payload_sha256 FROM entry "
                             "WHERE seq = 13)"), {"b": b"{}"})
    report = verify_ledger(ledger.engine, workers=2)
    assert apart == [1]
    assert report.failure is not None and report.failure.seq == 13
    assert report.failure.reason == "payload bytes do not match the leaf's payload_sha256"
