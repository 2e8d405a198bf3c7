"""Building and committing the scope index (see :mod:`ledger.scope_index`) on a ledger database.

:func:`index_at` computes the index over the first ``size`` entries from their
signed bytes, starting from the newest snapshot that a signed ``scope_index``
entry commits to (a snapshot no signed root vouches for is not trusted), and
stores a snapshot for ``size``. :func:`commit_scope_index` appends the
``scope_index`` entry that commits it, retrying if other writers moved the head
in between (append refuses an index whose size is not its own seq).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger import models as m
from ledger.append import Appended, StaleIndexError
from ledger.canonical import parse_json
from ledger.db import read_transaction, write_transaction
from ledger.entry import parse_leaf
from ledger.errors import IntegrityError, LedgerStateError
from ledger.head import read_head
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.projection import insert_raw
from ledger.records import LEDGER_KINDS
from ledger.scope_index import ScopeCounter, ScopeLeaf, scope_of
from ledger.timeutil import format_timestamp, utcnow

_ATTEMPTS = 10


def committed_indexes(conn: Connection, *, below: int | None = None) -> list[tuple[int, bytes]]:
    """(size, root) of every signed ``scope_index`` entry (below seq ``below``), newest first.

    Read from the entries' payloads, whose digests are checked against their leaves.
    """
    stmt = (
        select(m.Entry.seq, m.Entry.leaf, m.Payload.body)  # type: ignore[call-overload]
        .join(m.Record, m.Record.seq == m.Entry.seq)
        .join(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .where(m.Record.kind == "scope_index")
        .order_by(m.Entry.seq.desc())  # type: ignore[attr-defined]
    )
    if below is not None:
        stmt = stmt.where(m.Entry.seq < below)
    out = []
    for seq, leaf, body in conn.execute(stmt):
        fields = parse_json(body)
        if parse_leaf(bytes(leaf)).kind != "scope_index" or fields.get("size") != seq:
            raise IntegrityError("a scope index entry does not match its leaf: run 'assure verify'", seq=seq)
        out.append((seq, bytes.fromhex(fields["root"])))
    return out


def _snapshot(conn: Connection, size: int) -> ScopeCounter:
    rows = conn.execute(select(m.ScopeSnapshot).where(m.ScopeSnapshot.size == size)).mappings()  # type: ignore[arg-type]
    return ScopeCounter(ScopeLeaf(r["scope"], r["count"], r["last_seq"], r["last_entry_hash"]) for r in rows)


def _base(conn: Connection, size: int) -> tuple[int, ScopeCounter]:
    """The newest committed snapshot at or below ``size`` whose rows give its signed root."""
    for at, root in committed_indexes(conn, below=size + 1):
        counter = _snapshot(conn, at)
        if counter.root() == root:
            return at, counter
    return 0, ScopeCounter()


def index_at(conn: Connection, size: int) -> ScopeCounter:
    """The scope index over entries ``0 … size-1``, from their signed bytes.

    Raises:
        LedgerStateError: if fewer than ``size`` entries are stored.
    """
    start, counter = _base(conn, size)
    rows = conn.execute(
        select(m.Entry.seq, m.Entry.entry_hash, m.Entry.leaf, m.Payload.body)  # type: ignore[call-overload]
        .outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .where(m.Entry.seq >= start, m.Entry.seq < size)
        .order_by(m.Entry.seq)
        .execution_options(yield_per=5000)
    )
    expected = start
    for seq, ehash, leaf, body in rows:
        if seq != expected:
            raise LedgerStateError(f"entry {expected} is missing: run 'assure verify'")
        counter.add(entry_scope(bytes(leaf), body), seq, bytes(ehash).hex())
        expected += 1
    if expected != size:
        raise LedgerStateError(f"the ledger holds {expected} entries, not {size}")
    return counter


def store_snapshot(conn: Connection, size: int, counter: ScopeCounter) -> None:
    """Keep ``counter`` as the snapshot at ``size`` (insert-only; an existing one is the same)."""
    rows: list[dict[str, Any]] = [{"size": size, **leaf.to_json()} for leaf in counter.leaves()]
    insert_raw(conn, m.ScopeSnapshot.__table__, rows, skip_existing=True)  # type: ignore[attr-defined]


def entry_scope(leaf: bytes, body: bytes | None) -> str:
    """The scope of a stored entry, from its leaf kind and its payload's ``system``."""
    kind = parse_leaf(leaf).kind
    if kind in LEDGER_KINDS:
        return scope_of(kind, None)
    if body is None:
        raise IntegrityError("the payload of an entry is missing; its scope cannot be known")
    return scope_of(kind, parse_json(body).get("system"))


def commit_scope_index(ledger: Any, admin_key: PrivateKey, *, now: dt.datetime | None = None) -> int:
    """Append a ``scope_index`` entry committing the index over every entry before it.

    If the ledger's last entry is such an index already, nothing is appended (the
    same ledger gives the same package).

    Returns:
        The seq of the index entry.

    Raises:
        InputError: if ``admin_key`` may not sign it.
        StaleIndexError: if other writers kept moving the head.
    """
    for _ in range(_ATTEMPTS):
        with read_transaction(ledger.engine) as conn:  # the scan holds no write lock
            head = read_head(conn)
            if head is None:
                raise LedgerStateError("the ledger is not initialised: run 'assure init'")
            latest = committed_indexes(conn, below=head.size)
            if latest and latest[0][0] == head.size - 1:
                return head.size - 1
            counter = index_at(conn, head.size)
        with write_transaction(ledger.engine) as conn:
            store_snapshot(conn, head.size, counter)
        record = {"kind": "scope_index", "observed_at": format_timestamp(now or utcnow()), "size": head.size,
                  "root": counter.root().hex(), "scopes": len(counter.leaves())}
        try:
            appended: Appended = ledger.append([Document("scope index", record)], signing_key=admin_key, now=now)[0]
            return appended.seq
        except StaleIndexError:
            continue
    raise StaleIndexError("the ledger kept growing while its scope index was computed; try again")
