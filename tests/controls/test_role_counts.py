"""The automation KPI's counts: kept per process and extended by the rows appended since, they
must always equal a count of the whole ledger as of the same time."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from controls.role_counts import EVIDENCE_KINDS, evidence_by_role
from ledger.db import make_engine, read_transaction
from ledger.store import Ledger
from tests.conftest import T0, eval_record
from tests.controls.test_coverage import D, approve, iso, put


def _counted(engine: sa.Engine, as_of: dt.datetime) -> Counter[str]:
    with read_transaction(engine) as conn:
        return evidence_by_role(conn, as_of=as_of)


def _by_hand(engine: sa.Engine, as_of: dt.datetime) -> Counter[str]:
    """Every record read and counted in Python: what the KPI must say."""
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.text("SELECT kind, signer_role, received_at FROM record")).all()
    when = as_of.replace(tzinfo=None)
    return Counter(role for kind, role, received in rows
                   if kind in EVIDENCE_KINDS and _naive(received) <= when)


def _naive(value: object) -> dt.datetime:
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def test_counts_follow_the_ledger_as_it_grows_and_answer_past_dates(ledger: Ledger, keys) -> None:
    now = T0 + 30 * D
    assert _counted(ledger.engine, now) == _by_hand(ledger.engine, now) == Counter({"pipeline": 1})
    for day in range(1, 4):
        when = T0 + day * D
        put(ledger, keys.pipeline, when, eval_record(suite=f"s{day}", observed_at=iso(when)))
        assert _counted(ledger.engine, now) == _by_hand(ledger.engine, now)
    target = ledger.get(ledger.head().size - 1)
    put(ledger, keys.approver, T0 + 5 * D, approve(target.entry_hash.hex(), T0 + 5 * D))
    assert _counted(ledger.engine, now) == _by_hand(ledger.engine, now) == Counter({"pipeline": 4, "approver": 1})
    # A date before the newest record: counted as of then, not from what this process kept.
    past = T0 + 2 * D
    assert _counted(ledger.engine, past) == _by_hand(ledger.engine, past) == Counter({"pipeline": 3})
    assert _counted(ledger.engine, now) == Counter({"pipeline": 4, "approver": 1})


def test_another_ledger_at_the_same_address_is_counted_afresh(ledger: Ledger, keys, tmp_path: Path) -> None:
    if ledger.engine.url.get_backend_name() != "sqlite":
        return  # the same URL with other content is a file swapped under the server; PostgreSQL: same code path
    path = Path(str(ledger.engine.url.database))
    smaller = tmp_path / "smaller.db"
    _copy(path, smaller)  # the ledger as it is: one pipeline record
    now = T0 + 30 * D
    for day in range(1, 4):
        put(ledger, keys.pipeline, T0 + day * D, eval_record(suite=f"s{day}", observed_at=iso(T0 + day * D)))
    assert _counted(ledger.engine, now) == Counter({"pipeline": 4})
    ledger.engine.dispose()
    _copy(smaller, path)  # an older copy restored at the same path: fewer rows than counted
    engine = make_engine(str(ledger.engine.url))
    try:
        assert _counted(engine, now) == _by_hand(engine, now) == Counter({"pipeline": 1})
    finally:
        engine.dispose()


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
