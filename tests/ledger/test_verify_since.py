"""Incremental verification from a verified state: the new entries get every check a full run gives them.

A monitor verifies once, keeps the state file, and later checks only what was
appended. Whatever a database writer does to the entries after the state (or to
the ledger's length) must fail the incremental run at the same seq a full run names.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.checkpoints import issue_checkpoint
from ledger.scope_store import commit_scope_index
from ledger.store import Ledger, read_head, revoke_key
from ledger.verified_state import VerifiedState
from ledger.verify import verify_connection, verify_ledger
from tests.conftest import (
    append_behind_the_back,
    cut_tail,
    docs,
    eval_record,
    system_record,
)
from tests.ledger.test_tamper import ENTRY_COLS, PAYLOAD_COLS, _flip, tampering


def _grow(ledger: Ledger, keys, n: int, tag: str) -> None:
    for i in range(n):
        signer = keys.pipeline if i % 3 else keys.approver
        ledger.append(docs(eval_record(suite=f"{tag}-{i}", passed=bool(i % 4))), signing_key=signer)


@pytest.fixture
def resumed(ledger: Ledger, keys) -> tuple[Ledger, VerifiedState]:
    """A verified state of ~12 entries, then more appended: a system, a scope index, a key revocation,
    a checkpoint and evaluations (the kinds whose checks depend on what came before)."""
    _grow(ledger, keys, 5, "before")
    report = verify_ledger(ledger.engine, workers=1)
    assert report.ok and report.state is not None, report.failure
    ledger.append(docs(system_record("chatbot", risk_tier="medium", eu_class="limited")), signing_key=keys.admin)
    _grow(ledger, keys, 4, "after")
    commit_scope_index(ledger, keys.admin)
    revoke_key(ledger, keys.admin, keys.auditor.public.key_id, reason="left")
    issue_checkpoint(ledger.engine, keys.admin)
    _grow(ledger, keys, 4, "later")
    return ledger, report.state


def _comparable(state: VerifiedState) -> dict:
    data = state.to_json()
    data.pop("verified_at")
    return data


def test_an_incremental_run_checks_only_the_new_entries_and_ends_where_a_full_run_does(resumed) -> None:
    ledger, state = resumed
    inc = verify_ledger(ledger.engine, since=state, workers=1)
    full = verify_ledger(ledger.engine, workers=1)
    assert inc.ok and full.ok, (inc.failure, full.failure)
    assert inc.to_json()["entries_checked"] == full.size - state.size > 0
    assert inc.signatures < full.signatures and inc.root == full.root
    assert _comparable(inc.state) == _comparable(full.state)
    again = verify_ledger(ledger.engine, since=inc.state, workers=1)  # nothing new: still a pass
    assert again.ok and again.to_json()["entries_checked"] == 0


def test_the_state_survives_its_file(resumed, tmp_path: Path) -> None:
    ledger, state = resumed
    path = tmp_path / "state.json"
    state.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _comparable(VerifiedState.read(path)) == _comparable(state)
    assert verify_ledger(ledger.engine, since=VerifiedState.read(path), workers=1).ok


NEW_ENTRY_TAMPERS = st.tuples(st.sampled_from(["entry_byte", "payload_byte", "delete", "forge"]),
                              st.integers(0, 1000), st.integers(0, 10_000), st.integers(1, 255))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=NEW_ENTRY_TAMPERS)
def test_any_tampering_after_the_state_fails_at_the_seq_a_full_run_names(resumed, keys, t) -> None:
    ledger, state = resumed
    op, pick, pos, mask = t
    with tampering(ledger.engine) as conn:
        size = read_head(conn).size
        seq = state.size + pick % (size - state.size)
        row = conn.execute(sa.text("SELECT * FROM entry WHERE seq = :s"), {"s": seq}).one()._mapping
        if op == "entry_byte":
            col = ENTRY_COLS[pos % len(ENTRY_COLS)]
            conn.execute(sa.text(f"UPDATE entry SET {col} = :v WHERE seq = :s"), {"v": _flip(row[col], pos, mask), "s": seq})
        elif op == "payload_byte":
            col = PAYLOAD_COLS[pos % 2]
            cur = conn.execute(sa.text(f"SELECT {col} FROM payload WHERE sha256 = :k"), {"k": row["payload_sha256"]}).scalar_one()
            conn.execute(sa.text(f"UPDATE payload SET {col} = :v WHERE sha256 = :k"),
                         {"v": _flip(cur, pos, mask), "k": row["payload_sha256"]})
        elif op == "delete":
            conn.execute(sa.text("DELETE FROM entry WHERE seq = :s"), {"s": seq})
        else:
            seq = append_behind_the_back(conn, keys.stranger, suite="forged", received_at="2099-01-01T00:00:00Z")
        inc = verify_connection(conn, since=state, workers=1)
        full = verify_connection(conn, workers=1)
    assert not inc.ok and not full.ok, f"{t} went undetected"
    assert inc.failure.seq == full.failure.seq == seq, (t, inc.failure, full.failure)


def test_a_ledger_cut_below_the_state_is_refused(resumed) -> None:
    ledger, state = resumed
    with tampering(ledger.engine) as conn:
        cut_tail(conn, state.size - 2)
        report = verify_connection(conn, since=state, workers=1)
    assert not report.ok and "truncated or rolled back" in report.failure.reason


def test_a_rewritten_history_with_a_recomputed_head_is_refused(resumed, keys) -> None:
    """Cut back to before the state and append other entries up to a longer head: the chain breaks at the state."""
    ledger, state = resumed
    with tampering(ledger.engine) as conn:
        cut_tail(conn, state.size - 1)
        for n in range(30):
            append_behind_the_back(conn, keys.pipeline, suite=f"rewritten-{n}", received_at="2026-11-10T00:00:00Z")
        report = verify_connection(conn, since=state, workers=1, derived=False)
    assert not report.ok and report.failure.seq == state.size, report.failure


def test_a_derived_row_of_a_new_entry_edited_is_found(resumed) -> None:
    ledger, state = resumed
    with tampering(ledger.engine) as conn:
        seq = read_head(conn).size - 1
        conn.execute(sa.text("UPDATE record SET passed = NOT passed WHERE seq = :s"), {"s": seq})
        report = verify_connection(conn, since=state, workers=1)
    assert not report.ok and f"record ({seq},)" in report.failure.reason


def test_an_old_entry_rewritten_is_left_to_a_full_run(resumed) -> None:
    """Documented: an incremental run does not re-read verified entries; --full (or a proof) finds it."""
    ledger, state = resumed
    with tampering(ledger.engine) as conn:
        conn.execute(sa.text("UPDATE payload SET body = :b WHERE sha256 = (SELECT payload_sha256 FROM entry "
                             "WHERE seq = 3)"), {"b": b"{}"})
        assert verify_connection(conn, since=state, workers=1, derived=False).ok
        full = verify_connection(conn, workers=1, derived=False)
    assert not full.ok and full.failure.seq == 3


def test_a_state_of_another_ledger_is_refused(resumed) -> None:
    ledger, state = resumed
    state.origin = "elsewhere.example/ledger"
    report = verify_ledger(ledger.engine, since=state, workers=1)
    assert not report.ok and "elsewhere.example/ledger" in report.failure.reason


def test_the_cli_keeps_the_state_and_refuses_a_broken_file(resumed, keys, run_cli, db_url, tmp_path: Path) -> None:
    ledger, _ = resumed
    path = tmp_path / "monitor-state.json"
    first = run_cli("verify", "--state", str(path), "--json", db=db_url)
    assert first.exit_code == 0, first.output
    assert "since" not in json.loads(first.stdout) and path.exists()
    _grow(ledger, keys, 2, "cli")
    second = run_cli("verify", "--state", str(path), db=db_url)
    assert second.exit_code == 0 and "(2 new since the verified state)" in second.stdout, second.output
    path.write_text('{"format": "assure-verified-state/1", "size": "many"}')
    broken = run_cli("verify", "--state", str(path), db=db_url)
    assert broken.exit_code == 2 and str(path) in broken.stderr and "Traceback" not in broken.output
    usage = run_cli("verify", "--full", db=db_url)
    assert usage.exit_code == 2 and "--state" in usage.stderr
