"""Crash safety: SIGKILL during a batch append leaves all of the batch or none of it.

A real ``assure append`` of a few thousand pre-signed envelopes runs in a child
process (tests/reliability/crash_child.py), which prints ``writing`` just before
the first INSERT of its write transaction. The test kills it with SIGKILL after
a different delay each run: at once (inside the transaction), a little later
(while rows are still being written or the commit is syncing) and late (often
after the commit). Whatever the timing, the ledger must verify and hold either
the whole batch or none of it, and the killed append can simply be run again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ledger.dsse import sign_envelope
from ledger.keys import PrivateKey
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import Ledger
from ledger.verify import verify_ledger
from tests.conftest import eval_record

REPO = Path(__file__).resolve().parents[2]
BATCH = 2_000
DELAYS = (0.0, 0.05, 0.4)
"""Seconds from the child's first INSERT to SIGKILL, one run each."""


def _batch_file(directory: Path, run: int, key: PrivateKey) -> Path:
    """A JSON Lines file of BATCH envelopes, distinct for each run."""
    path = directory / f"batch-{run}.jsonl"
    with path.open("w") as fh:
        for i in range(BATCH):
            record = parse_record(eval_record(suite=f"crash-{run}-{i}"))
            fh.write(json.dumps(sign_envelope(PAYLOAD_TYPE, record_bytes(record), key).to_json()) + "\n")
    return path


def _append_then_kill(db_url: str, path: Path, delay: float, cwd: Path) -> tuple[bool, int]:
    """Run ``assure append`` in a child and SIGKILL it ``delay`` s after it starts writing.

    Returns:
        Whether the child announced its first INSERT, and its exit status
        (-9 when the kill landed before it exited).
    """
    env = os.environ | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.crash_child", "--db", db_url, "append", str(path)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        announced = proc.stdout.readline().strip() == "writing"  # type: ignore[union-attr]
        if announced:
            time.sleep(delay)
            proc.kill()  # SIGKILL: no cleanup, no rollback by the client
        _, err = proc.communicate()
    finally:
        watchdog.cancel()
    assert proc.returncode in (0, -9), f"append failed on its own (exit {proc.returncode}): {err}"
    return announced, proc.returncode


@pytest.mark.slow
def test_sigkill_during_batch_append_leaves_all_or_nothing(
    ledger: Ledger, keys, db_url: str, tmp_path: Path, run_cli
) -> None:
    outcomes = []
    for run, delay in enumerate(DELAYS):
        before = ledger.head().size
        path = _batch_file(tmp_path, run, keys.pipeline)
        announced, status = _append_then_kill(db_url, path, delay, tmp_path)
        assert announced, "the child never reached its write transaction"
        report = verify_ledger(ledger.engine, workers=1)
        assert report.ok, f"run {run} (kill {delay}s after the first INSERT): {report.failure}"
        added = ledger.head().size - before
        assert added in (0, BATCH), f"run {run}: {added} of {BATCH} entries survived the crash"
        assert report.size == ledger.head().size
        outcomes.append((path, status, added))

    killed_before_commit = [o for o in outcomes if o[1] == -9 and o[2] == 0]
    assert killed_before_commit, f"no kill landed before the commit finished: {outcomes}"

    # Running the killed append again writes the batch exactly once.
    path = killed_before_commit[0][0]
    before = ledger.head().size
    assert run_cli("append", str(path), db=db_url).exit_code == 0
    assert ledger.head().size == before + BATCH
    again = run_cli("append", str(path), db=db_url)
    assert again.exit_code == 2 and "already in the ledger" in again.stderr
    assert verify_ledger(ledger.engine, workers=1).ok
