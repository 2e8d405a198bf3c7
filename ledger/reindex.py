"""Derived tables, recomputed from the entries: checked by ``assure verify``, rebuilt by ``assure reindex``.

``record``, ``record_control``, ``entry_signer``, ``key_registry``,
``key_revocation``, ``tree_node`` and ``scope_snapshot`` are projections: queries and proofs read
them, but they are never the source of truth. :func:`projection_differences`
recomputes them from the stored entries and payloads, a window of entries at
a time (constant memory), and yields every difference in entry order: a row
edited, missing, or not derived from any entry. :func:`rebuild_projections`
replaces them. Both trust the entries they read: ``assure verify`` feeds each
entry it reads to a :class:`DerivedCheck` and reports a difference only once
every entry check has passed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from ledger import models as m
from ledger.db import read_transaction, write_transaction
from ledger.entry import parse_leaf
from ledger.head import read_head
from ledger.key_events import replay_entry
from ledger.merkle import Frontier, leaf_hash
from ledger.projection import (
    control_rows,
    driver_values,
    insert_raw,
    key_registry_row,
    projection_row,
    revocation_row,
    signer_rows,
)
from ledger.records import KEY_KINDS, LEDGER_KINDS, parse_record
from ledger.registry import Registry
from ledger.scope_index import ScopeCounter, scope_of
from ledger.timeutil import parse_timestamp

if TYPE_CHECKING:
    from ledger.verified_state import VerifiedState

WINDOW = 5_000
"""Entries recomputed (and stored rows compared) at a time."""
_ENTRIES = ("SELECT e.seq, e.entry_hash, e.leaf, p.body FROM entry e JOIN payload p ON p.sha256 = e.payload_sha256 "
            "WHERE e.seq >= {0} AND e.seq < {0} ORDER BY e.seq")

Progress = Callable[[int, int], None]
"""Called with (entries done, total)."""
_PER_SEQ = ("record", "record_control", "entry_signer")
_MODELS: dict[str, Any] = {
    "record": m.Record, "record_control": m.RecordControl, "entry_signer": m.EntrySigner,
    "key_registry": m.KeyRegistry, "key_revocation": m.KeyRevocation, "tree_node": m.TreeNode,
    "scope_snapshot": m.ScopeSnapshot,
}
TABLES = tuple(_MODELS)
_KEYS: dict[str, tuple[str, ...]] = {
    "record": ("seq",), "record_control": ("seq", "control_id", "relation"), "entry_signer": ("seq", "idx"),
    "key_registry": ("key_id",), "key_revocation": ("key_id",), "tree_node": ("level", "idx"),
    "scope_snapshot": ("size", "scope"),
}


@dataclass
class _Window:
    """The derived rows of entries ``lo .. hi-1``."""

    lo: int
    hi: int
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in _PER_SEQ + ("tree_node",)})


_SCAN = json.JSONDecoder().scan_once
"""The C scanner alone (canonical payloads have no surrounding whitespace)."""
_LEAF_FACTS = re.compile(rb'\{"idem_key":"[^"\\]*","kind":"([^"\\]*)",.*"received_at":"([^"\\]*)",'
                         rb'"seq":[0-9]+,"signatures":\[(.*)\],"v":1\}', re.DOTALL)
_KEYID = re.compile(rb'"keyid":"([^"\\]*)"')


def _leaf_facts(leaf_bytes: bytes) -> tuple[str, str, list[str]]:
    """A leaf's kind, receive time and signing key ids (the usual leaf by pattern, any other parsed)."""
    match = _LEAF_FACTS.fullmatch(leaf_bytes)
    if match is not None:
        kind, received_at, sigs = match.groups()
        keyids = _KEYID.findall(sigs)
        if keyids and len(keyids) == sigs.count(b'"sig":"'):  # no key id with an escape in it
            return kind.decode(), received_at.decode(), [k.decode() for k in keyids]
    leaf = parse_leaf(leaf_bytes)
    return leaf.kind, leaf.received_at, [s.keyid for s in leaf.signatures]


class _Deriver:
    """Recomputes projection rows entry by entry, replaying key events as it goes."""

    def __init__(self, snapshot_at: set[int] | None = None, since: VerifiedState | None = None) -> None:
        self.registry = since.registry.copy() if since else Registry()
        self.frontier = Frontier(since.size, since.frontier.hashes) if since else Frontier()
        self.scopes = since.scopes.copy() if since else ScopeCounter()
        self.snapshot_at = snapshot_at or set()
        self.snapshots: dict[int, list[dict[str, Any]]] = {}
        self._received: tuple[str, dt.datetime] = ("", dt.datetime.min)

    def window(self, conn: Connection, lo: int, hi: int) -> _Window:
        out = _Window(lo, hi)
        for seq, ehash, leaf_bytes, body in _driver_rows(conn, _ENTRIES, (lo, hi)):
            self.entry(out, seq, bytes(ehash), bytes(leaf_bytes), bytes(body))
        return out

    def entry(self, out: _Window, seq: int, ehash: bytes, leaf_bytes: bytes, body: bytes,
              nodes: list[tuple[int, int, bytes]] | None = None) -> None:
        """Add an entry's rows to ``out``; ``nodes``: what appending its leaf to the tree completed,
        if the caller keeps the same tree (this deriver's own then stays behind)."""
        # The entries are checked before (verify) or trusted (reindex): only what the rows need is read.
        kind, received_at, keyids = _leaf_facts(leaf_bytes)
        if received_at != self._received[0]:  # a batch shares its receive time: parsed once
            self._received = (received_at, parse_timestamp(received_at))
        at = self._received[1]
        fields = _SCAN(body.decode("utf-8"), 0)[0]
        if kind in KEY_KINDS or seq == 0:
            record = parse_record(fields, source=f"entry {seq}")
            signer = replay_entry(self.registry, record, seq=seq, kind=kind, keyids=keyids, at=at)[0]
        else:  # the signers' standing is the entry checks' business; the rows name the first one
            signer = self.registry.get(keyids[0]) or replay_entry(
                self.registry, None, seq=seq, kind=kind, keyids=keyids, at=at, system=fields.get("system"))[0]
        out.rows["record"].append(projection_row(fields, seq=seq, entry_hash=ehash, received_at=at, signer=signer))
        out.rows["record_control"].extend(control_rows(fields, seq=seq))
        out.rows["entry_signer"].extend(signer_rows(seq, keyids))
        if seq in self.snapshot_at or kind == "scope_index":  # the index of the entries before it
            self._snapshot(seq)
        self.scopes.add(scope_of(kind, None if kind in LEDGER_KINDS else fields.get("system")), seq, ehash.hex())
        if nodes is None:
            nodes = self.frontier.append(leaf_hash(leaf_bytes))
        out.rows["tree_node"].extend({"level": level, "idx": idx, "hash": node} for level, idx, node in nodes
                                     if level > 0)

    def _snapshot(self, size: int) -> None:
        self.snapshots[size] = [{"size": size, **leaf.to_json()} for leaf in self.scopes.leaves()]

    def final_tables(self, size: int) -> dict[str, list[dict[str, Any]]]:
        """The tables known only once all ``size`` entries are read: keys, revocations, scope snapshots."""
        if size in self.snapshot_at:
            self._snapshot(size)
        keys = list(self.registry)
        return {
            "key_registry": [key_registry_row(k) for k in keys],
            "key_revocation": [revocation_row(k) for k in keys if k.revoked_seq is not None],
            "scope_snapshot": [row for size in sorted(self.snapshots) for row in self.snapshots[size]],
        }


def _size(conn: Connection) -> int:
    """Entries to recompute: up to the highest stored seq (verify checks they are contiguous
    and agree with the head first; an index seek, not a count of a million rows)."""
    top = conn.execute(select(func.max(m.Entry.seq))).scalar_one()
    return 0 if top is None else int(top) + 1


def _snapshot_sizes(conn: Connection) -> set[int]:
    return {int(s) for (s,) in conn.execute(select(m.ScopeSnapshot.size).distinct())}  # type: ignore[call-overload]


def derived_windows(
    conn: Connection, snapshot_at: set[int], progress: Progress | None = None
) -> Iterator[tuple[_Window, _Deriver]]:
    """The derived rows, a window of entries at a time (scope snapshots at ``snapshot_at`` and
    at every scope index entry); ``progress(entries done, total)`` after each window is used."""
    deriver = _Deriver(snapshot_at)
    size = _size(conn)
    for lo in range(0, size, WINDOW):
        yield deriver.window(conn, lo, min(size, lo + WINDOW)), deriver
        if progress:
            progress(min(size, lo + WINDOW), size)
    if not size:
        yield _Window(0, 0), deriver


def projection_differences(
    conn: Connection, *, since: VerifiedState | None = None, progress: Progress | None = None
) -> Iterator[str]:
    """Every difference between the stored derived tables and the entries, in entry order.

    Each is one line naming the table, the row's key and what differs, e.g.
    ``record (12,): passed differ from the entries``. With ``since`` (a verified
    state), only the rows the entries after it give (and the key tables, whole).
    ``progress(entries done, total)`` is called after each window of entries.
    """
    check = DerivedCheck(conn, since)
    size = _size(conn)
    for lo in range(check.start, size, WINDOW):
        for seq, ehash, leaf_bytes, body in _driver_rows(conn, _ENTRIES, (lo, lo + WINDOW)):
            yield from check.add(conn, seq, bytes(ehash), bytes(leaf_bytes), bytes(body))
        if progress:
            progress(min(size, lo + WINDOW), size)
    yield from check.finish(conn)


class DerivedCheck:
    """:func:`projection_differences` fed one entry at a time, in seq order, by a caller that
    reads the entries anyway (``assure verify``, which also gives each entry's tree nodes)."""

    def __init__(self, conn: Connection, since: VerifiedState | None = None) -> None:
        self.start = self.entries = since.size if since else 0
        self.deriver = _Deriver({s for s in _snapshot_sizes(conn) if s >= self.start}, since)
        self.window = _Window(self.start, self.start)
        self.counts = dict.fromkeys(_PER_SEQ + ("tree_node",), 0)

    def add(self, conn: Connection, seq: int, ehash: bytes, leaf_bytes: bytes, body: bytes,
            nodes: list[tuple[int, int, bytes]] | None = None) -> list[str]:
        """Derive one entry's rows (``nodes``: see :meth:`_Deriver.entry`); once :data:`WINDOW`
        entries are derived, the differences between their rows and the stored ones."""
        self.deriver.entry(self.window, seq, ehash, leaf_bytes, body, nodes)
        self.entries = seq + 1
        return list(self._compare_window(conn)) if self.entries - self.window.lo >= WINDOW else []

    def _compare_window(self, conn: Connection) -> Iterator[str]:
        window, lo, hi = self.window, self.window.lo, self.entries
        self.window = _Window(hi, hi)
        for table in _PER_SEQ:
            self.counts[table] += len(window.rows[table])
            if _same_rows(conn, table, window.rows[table], "seq >= {0} AND seq < {0}", [(lo, hi)]):
                continue
            t = _MODELS[table].__table__
            stored = conn.execute(select(t).where(t.c.seq >= lo, t.c.seq < hi))
            yield from _compare(table, window.rows[table], stored)
        nodes = window.rows["tree_node"]
        self.counts["tree_node"] += len(nodes)
        spans = _node_spans(nodes)
        if not _same_rows(conn, "tree_node", nodes, "level = {0} AND idx >= {0} AND idx <= {0}",
                          [(level, lo_, hi_) for level, (lo_, hi_) in spans.items()]):
            yield from _compare("tree_node", nodes, _stored_nodes(conn, spans))

    def finish(self, conn: Connection) -> Iterator[str]:
        """After the last entry: its window's differences, the tables known only at the end, and
        stored rows no entry gives."""
        if self.entries > self.window.lo:
            yield from self._compare_window(conn)
        for table, rows in self.deriver.final_tables(self.entries).items():
            t = _MODELS[table].__table__
            yield from _compare(table, rows, conn.execute(
                select(t).where(t.c.size >= self.start) if table == "scope_snapshot" else select(t)))
        for table, expected in self.counts.items():
            stored = _stored_count(conn, table, self.start)
            if stored > expected:
                yield f"{table}: {stored - expected} row(s) not derived from any entry"


def _stored_count(conn: Connection, table: str, start: int) -> int:
    """Stored rows of ``table`` that entries ``start`` and after give (all rows for ``start`` 0)."""
    t = _MODELS[table].__table__
    if not start:
        return int(conn.execute(select(func.count()).select_from(t)).scalar_one())
    if table != "tree_node":
        return int(conn.execute(select(func.count()).select_from(t).where(t.c.seq >= start)).scalar_one())
    # A node (level, idx) is made by its last leaf, (idx + 1) * 2**level - 1: those from ``start`` on.
    levels = [int(v) for (v,) in conn.execute(select(t.c.level).distinct())]
    return sum(
        int(conn.execute(select(func.count()).select_from(t).where(
            t.c.level == level, t.c.idx >= -(-(start + 1) // 2**level) - 1)).scalar_one())
        for level in levels
    )


def _node_spans(expected: list[dict[str, Any]]) -> dict[int, list[int]]:
    """The (level, idx) places a window's expected tree nodes occupy: level -> [first idx, last idx]."""
    spans: dict[int, list[int]] = {}
    for n in expected:
        lo_hi = spans.setdefault(n["level"], [n["idx"], n["idx"]])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], n["idx"]), max(lo_hi[1], n["idx"])
    return spans


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows straight from the driver, in this transaction (no per-value SQLAlchemy processing);
    ``{0}`` in ``sql`` stands for the driver's parameter mark."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql.format(mark), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _same_rows(conn: Connection, table: str, want_rows: list[dict[str, Any]], where: str,
               params: list[tuple[Any, ...]]) -> bool:
    """True if the stored rows of ``table`` matching ``where`` (once per ``params``) are exactly
    ``want_rows``: both read as the driver gives them and compared as sorted tuples, the usual
    case at the cost of one comparison; any difference is explained by :func:`_compare`."""
    t = _MODELS[table].__table__
    columns = [c.name for c in t.columns]
    key = itemgetter(*[columns.index(k) for k in _KEYS[table]])
    want = driver_values(conn, t, columns, want_rows) if want_rows else []
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"
    have = [row for p in params for row in _driver_rows(conn, sql, p)]
    want.sort(key=key)
    have.sort(key=key)
    return want == have


def _stored_nodes(conn: Connection, spans: dict[int, list[int]]) -> list[Any]:
    """The stored tree nodes at the (level, idx) places of ``spans``."""
    out: list[Any] = []
    t = m.TreeNode.__table__  # type: ignore[attr-defined]
    for level, (lo, hi) in spans.items():
        out.extend(conn.execute(select(t).where(t.c.level == level, t.c.idx >= lo, t.c.idx <= hi)))
    return out


def _compare(table: str, want_rows: list[dict[str, Any]], have_rows: Any) -> Iterator[str]:
    """Differences between derived rows (mappings) and stored rows (in table column order)."""
    columns = [c.name for c in _MODELS[table].__table__.columns]
    at = [columns.index(k) for k in _KEYS[table]]
    want = {tuple(r[k] for k in _KEYS[table]): tuple(r[c] for c in columns) for r in want_rows}
    have = {tuple(row[i] for i in at): tuple(row) for row in have_rows}
    if want == have:
        return  # the usual case: one comparison; only a difference is worth explaining
    want = {k: dict(zip(columns, v, strict=True)) for k, v in want.items()}
    have = {k: dict(zip(columns, v, strict=True)) for k, v in have.items()}
    for k in sorted(set(want) | set(have), key=repr):
        if k not in have:
            yield f"{table} {k}: missing"
        elif k not in want:
            yield f"{table} {k}: not derived from any entry"
        else:
            w, h = _norm(want[k]), _norm(have[k])
            cols = sorted(c for c in w if h.get(c) != w[c])
            if cols:
                yield f"{table} {k}: {', '.join(cols)} differ from the entries"


def _norm(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (_utc(v).isoformat() if isinstance(v, dt.datetime) else bytes(v) if isinstance(v, memoryview) else v)
            for k, v in row.items()}


def _utc(v: dt.datetime) -> dt.datetime:
    return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)


def check_projections(engine: Engine, progress: Progress | None = None) -> list[str]:
    """Every difference between the stored derived tables and the entries (empty = consistent);
    ``progress(entries done, total)`` as the entries are read."""
    with read_transaction(engine) as conn:
        if read_head(conn) is None:
            from ledger.head import not_initialised

            raise not_initialised()
        return list(projection_differences(conn, progress=progress))


def rebuild_projections(engine: Engine, progress: Progress | None = None) -> int:
    """Replace every derived table with rows recomputed from the entries (one transaction);
    ``progress(entries done, total)`` as they are rebuilt.

    Returns:
        The number of entries the tables were rebuilt from.
    """
    with write_transaction(engine) as conn:
        read_head(conn, lock=True)
        sizes = _snapshot_sizes(conn)
        for model in (m.RecordControl, m.EntrySigner, m.Record, m.KeyRevocation, m.KeyRegistry, m.TreeNode,
                      m.ScopeSnapshot):
            conn.execute(delete(model))
        deriver: _Deriver | None = None
        for window, deriver in derived_windows(conn, sizes, progress):
            # Written exactly as append writes them (the same driver-level insert).
            for table in (*_PER_SEQ, "tree_node"):
                insert_raw(conn, _MODELS[table].__table__, window.rows[table])
        assert deriver is not None
        for table, rows in deriver.final_tables(deriver.frontier.size).items():
            if rows:
                conn.execute(insert(_MODELS[table]), rows)
        return deriver.frontier.size
