"""The ledger head row and reads of the Merkle tree's stored nodes.

The head row (``ledger_head``) serialises appenders and caches the tree size,
root, last entry hash and Merkle frontier. It is derived data: ``assure
verify`` recomputes all of it from the entries. This module does not append.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Connection

from ledger import models as m
from ledger.db import is_sqlite
from ledger.errors import LedgerStateError
from ledger.merkle import Frontier, inclusion_proof, leaf_hash

HEAD_ID = 1


@dataclass(frozen=True)
class Head:
    """The ledger's identity and its current tree head."""

    origin: str
    size: int
    root: bytes
    last_hash: bytes
    frontier: Frontier


def frontier_nodes(frontier: Frontier) -> dict[tuple[int, int], bytes]:
    """The frontier's subtree roots as ``(level, idx) -> hash``, the form a node reader reads.

    Every perfect subtree lying wholly before the frontier's size that an inclusion
    proof of a later leaf reads is one of these (any smaller one sits inside one of
    them, so only proofs of earlier leaves pass through it).
    """
    out, start = {}, 0
    for h in frontier.hashes:
        level = (frontier.size - start).bit_length() - 1
        out[level, start >> level] = h
        start += 1 << level
    return out


def not_initialised() -> LedgerStateError:
    """The error for a database without a genesis entry."""
    return LedgerStateError("the ledger is not initialised: run 'assure init --admin-key PEM'")


_HEAD = select(m.LedgerHead).where(m.LedgerHead.id == HEAD_ID)  # type: ignore[arg-type]
_HEAD_LOCKED = _HEAD.with_for_update()
_HEAD_AND_LAST_LEAF = (
    select(m.LedgerHead, m.Entry.leaf)  # type: ignore[call-overload]
    .outerjoin(m.Entry, m.Entry.seq == m.LedgerHead.size - 1)  # type: ignore[operator]
    .where(m.LedgerHead.id == HEAD_ID)  # type: ignore[arg-type]
)
_LAST_LEAF = select(m.Entry.leaf).where(m.Entry.seq == bindparam("seq"))  # type: ignore[arg-type]


def read_head(conn: Connection, *, lock: bool = False) -> Head | None:
    """Read the head row (locking it FOR UPDATE when ``lock``); None if not initialised."""
    row = conn.execute(_HEAD_LOCKED if lock and not is_sqlite(conn) else _HEAD).first()
    return None if row is None else _head(row)


def lock_head_and_last_leaf(conn: Connection) -> tuple[Head, bytes | None] | None:
    """The head row, locked, and the leaf of its last entry (None if that entry is not
    stored); None if not initialised. What an append starts with.

    On SQLite the write transaction holds the database already: one statement. On
    PostgreSQL the row lock comes first and the leaf in a second statement: a statement
    that waited for the lock still reads the other rows as they were when it started
    (READ COMMITTED), so a join would miss the entry the previous holder just wrote.
    """
    if not is_sqlite(conn):
        head = read_head(conn, lock=True)
        if head is None:
            return None
        leaf = conn.execute(_LAST_LEAF, {"seq": head.size - 1}).scalar() if head.size else None
        return head, None if leaf is None else bytes(leaf)
    row = conn.execute(_HEAD_AND_LAST_LEAF).first()
    if row is None:
        return None
    leaf = row._mapping["leaf"]
    return _head(row), None if leaf is None else bytes(leaf)


def _head(row: Any) -> Head:
    h = row._mapping
    return Head(
        origin=h["origin"],
        size=h["size"],
        root=h["root"],
        last_hash=h["last_hash"],
        frontier=Frontier.from_bytes(h["size"], h["frontier"]),
    )


def node_reader(
    conn: Connection, *, around: tuple[int, int] | None = None, proofs_of: tuple[Sequence[int], int] | None = None
) -> Callable[[int, int], bytes]:
    """A Merkle node reader over stored leaves (level 0) and tree nodes (level >= 1).

    Args:
        conn: an open connection.
        around: a range of leaf indexes ``(lo, hi)`` whose proofs will be asked
            for (e.g. a batch just appended): the nodes their audit paths need are
            read up front with one range query per level instead of one query per
            node. Nodes outside it are still read on demand.
        proofs_of: ``(leaf indexes, tree size)`` whose inclusion proofs will be
            asked for (scattered leaves: the entries a release gate uses): every
            node their audit paths read is fetched up front, one query per level.
    """
    cache: dict[tuple[int, int], bytes] = {}
    if around is not None:
        _prefetch(conn, cache, *around)
    if proofs_of is not None:
        _prefetch_paths(conn, cache, *proofs_of)

    def node(level: int, idx: int) -> bytes:
        hit = cache.get((level, idx))
        if hit is not None:
            return hit
        if level == 0:
            leaf = conn.execute(select(m.Entry.leaf).where(m.Entry.seq == idx)).scalar_one()
            value = leaf_hash(leaf)
        else:
            value = conn.execute(
                select(m.TreeNode.hash).where(
                    m.TreeNode.level == level, m.TreeNode.idx == idx  # type: ignore[arg-type]
                )
            ).scalar_one()
        cache[(level, idx)] = value
        return value

    return node


def _prefetch(conn: Connection, cache: dict[tuple[int, int], bytes], lo: int, hi: int) -> None:
    """Cache the leaf hashes and stored subtree hashes next to leaves ``lo..hi-1`` at every level."""
    if hi <= lo:
        return
    rows = conn.execute(
        select(m.Entry.seq, m.Entry.leaf).where(m.Entry.seq >= max(0, lo - 1), m.Entry.seq <= hi)  # type: ignore[operator]
    )
    cache.update(((0, seq), leaf_hash(leaf)) for seq, leaf in rows)
    # Every level in one query: a receipt for a small batch is read in two round trips, not one per level.
    ranges = [
        and_(m.TreeNode.level == level, m.TreeNode.idx >= max(0, (lo >> level) - 1),  # type: ignore[arg-type,operator]
             m.TreeNode.idx <= ((hi - 1) >> level) + 1)  # type: ignore[operator]
        for level in range(1, (hi - 1).bit_length() + 1)
    ]
    if ranges:
        rows = conn.execute(select(m.TreeNode.level, m.TreeNode.idx, m.TreeNode.hash).where(or_(*ranges)))
        cache.update(((level, idx), h) for level, idx, h in rows)


def read_leaves(conn: Connection, seqs: Sequence[int]) -> dict[int, bytes]:
    """The stored leaf bytes of the entries ``seqs`` (those that exist), 500 seqs a query."""
    wanted = sorted(set(seqs))
    out: dict[int, bytes] = {}
    for i in range(0, len(wanted), 500):
        rows = conn.execute(select(m.Entry.seq, m.Entry.leaf).where(m.Entry.seq.in_(wanted[i : i + 500])))  # type: ignore[attr-defined]
        out.update((seq, bytes(leaf)) for seq, leaf in rows)
    return out


def _prefetch_paths(conn: Connection, cache: dict[tuple[int, int], bytes], leaves: Sequence[int], size: int) -> None:
    """Cache every node the inclusion proofs of ``leaves`` in a tree of ``size`` read."""
    wanted: dict[int, set[int]] = {}

    def record(level: int, idx: int) -> bytes:
        wanted.setdefault(level, set()).add(idx)
        return bytes(32)

    for leaf in leaves:
        inclusion_proof(leaf, size, record)
    for level, idxs in wanted.items():
        ordered = sorted(idxs)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            if level == 0:
                cache.update(((0, seq), leaf_hash(leaf)) for seq, leaf in read_leaves(conn, chunk).items())
            else:
                rows = conn.execute(select(m.TreeNode.idx, m.TreeNode.hash).where(
                    m.TreeNode.level == level, m.TreeNode.idx.in_(chunk)  # type: ignore[arg-type,attr-defined]
                ))
                cache.update(((level, idx), h) for idx, h in rows)
