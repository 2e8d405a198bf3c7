"""PostgreSQL batch appends as the ledger grows, and where each batch's time goes.

Batches of ``$BENCH_PG_BATCH`` (10,000) pre-signed envelopes are appended through
``Ledger.append`` (checks in the worker, as ``assure append`` does) into one new
ledger until it holds ``$BENCH_PG_ENTRIES`` (200,000). For each batch: records/s, its
ratio to the first batch (issue 17's target: within 20%, i.e. >= 0.8), and the time
spent in each kind of statement (timed around the driver's execute), the rest being
Python. Needs ``$ASSURE_TEST_PG_URL`` (``make bench`` starts a throwaway server).

Usage: python -m bench bench_pg_append
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from bench.bench_ledger import _records
from bench.bench_server import _ledger
from ledger.dsse import sign_envelope
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import Ledger

BATCH = int(os.environ.get("BENCH_PG_BATCH", "10000"))
ENTRIES = int(os.environ.get("BENCH_PG_ENTRIES", "200000"))


def _statement_kind(sql: str) -> str:
    flat = re.sub(r"\s+", " ", sql).strip()
    words = flat.split(" ")
    if words[0] == "INSERT":
        return "insert " + words[2]
    if words[0] == "UPDATE":
        return "update " + words[1]
    table = re.search(r" FROM (\w+)", flat)
    return "select " + (table.group(1) if table else "?")


def _timed(engine: sa.Engine) -> dict[str, float]:
    spent: dict[str, float] = defaultdict(float)
    started: dict[int, float] = {}

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, *_: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        spent[_statement_kind(statement)] += time.perf_counter() - started.pop(id(cursor))

    return spent


def _batch(key: PrivateKey, start: int, n: int) -> list[Document]:
    out = []
    for i, r in enumerate(_records(n)):
        r["suite"] = f"suite-{start + i}"
        out.append(Document(f"env[{start + i}]", sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(r)), key).to_json()))
    return out


def _run(url: str) -> None:
    engine, ci = _ledger(url)  # a new ledger: a pipeline key, the bench system and its model versions
    led = Ledger(engine)
    spent = _timed(engine)
    first = None
    print(f"PostgreSQL: batches of {BATCH:,} into one ledger up to {ENTRIES:,} entries")
    for b in range(ENTRIES // BATCH):
        docs = _batch(ci, b * BATCH, BATCH)
        spent.clear()
        t = time.perf_counter()
        led.append(docs)
        seconds = time.perf_counter() - t
        rate = BATCH / seconds
        first = first or rate
        sql = sum(spent.values())
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1])[:5])
        print(f"  to {(b + 1) * BATCH:>9,}: {rate:7,.0f}/s ({rate / first:.2f} of the first) {seconds:.2f} s; "
              f"SQL {sql:.2f} s ({top}), the rest {seconds - sql:.2f} s", flush=True)
    with engine.connect() as c:
        sizes = c.execute(sa.text(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relkind IN ('r', 'i') "
            "AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC LIMIT 8")).all()
        buffers = c.execute(sa.text("SHOW shared_buffers")).scalar()
    print(f"  largest relations (shared_buffers {buffers}): " + ", ".join(f"{n} {s / 2**20:.0f} MiB" for n, s in sizes))
    engine.dispose()


def main() -> None:
    pg = os.environ.get("ASSURE_TEST_PG_URL")
    if not pg:
        print("PostgreSQL: skipped (no $ASSURE_TEST_PG_URL; run through 'make bench')")
        return
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    name = f"bench_pg_append_{uuid.uuid4().hex[:6]}"
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        _run(pg.rsplit("/", 1)[0] + "/" + name)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    main()
