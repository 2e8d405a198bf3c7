"""Rebuild the derived tables from the entries: ``assure reindex``.

``record``, ``record_control``, ``key_registry`` and ``tree_node`` are
projections: coverage, the key registry used at append and inclusion proofs read
them, but they are never the source of truth. ``check_projections`` rebuilds them
in memory from the stored entries and payloads and reports every difference (a
projection edited behind the ledger's back would otherwise skew coverage without
touching a signed byte); ``rebuild_projections`` replaces them. Run ``assure
verify`` first: this module trusts the entries it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine

from ledger import models as m
from ledger.canonical import parse_json
from ledger.db import read_transaction, write_transaction
from ledger.entry import Leaf
from ledger.errors import LedgerStateError
from ledger.merkle import Frontier, leaf_hash
from ledger.records import parse_record
from ledger.registry import Registry
from ledger.store import (
    control_rows,
    insert_raw,
    projection_row,
    read_head,
    replay_entry,
)
from ledger.timeutil import parse_timestamp

TABLES = ("record", "record_control", "key_registry", "tree_node")


@dataclass
class Projections:
    """The derived rows, as rebuilt from the entries."""

    record: list[dict[str, Any]] = field(default_factory=list)
    record_control: list[dict[str, Any]] = field(default_factory=list)
    key_registry: list[dict[str, Any]] = field(default_factory=list)
    tree_node: list[dict[str, Any]] = field(default_factory=list)


def rebuild(conn: Connection) -> Projections:
    """Derive every projection row from the stored entries and payloads."""
    if read_head(conn) is None:
        raise LedgerStateError("the ledger is not initialised: run 'assure init'")
    out = Projections()
    registry = Registry()
    frontier = Frontier()
    rows = conn.execute(
        select(m.Entry.seq, m.Entry.entry_hash, m.Entry.leaf, m.Payload.body)  # type: ignore[call-overload]
        .join(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .order_by(m.Entry.seq)
        .execution_options(yield_per=5000)
    )
    for seq, ehash, leaf_bytes, body in rows:
        leaf = Leaf.from_bytes(leaf_bytes)
        at = parse_timestamp(leaf.received_at)
        record = parse_record(parse_json(body), source=f"entry {seq}")
        signers = replay_entry(registry, record, seq=seq, kind=leaf.kind,
                               keyids=[sig.keyid for sig in leaf.signatures], at=at)
        out.record.append(projection_row(record, seq=seq, entry_hash=ehash, received_at=at, signer=signers[0]))
        out.record_control.extend(control_rows(record, seq=seq))
        for level, idx, node in frontier.append(leaf_hash(leaf_bytes)):
            if level > 0:
                out.tree_node.append({"level": level, "idx": idx, "hash": node})
    out.key_registry = [k.__dict__ for k in registry]
    return out


def _key(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return {
        "record": lambda r: (r["seq"],),
        "record_control": lambda r: (r["seq"], r["control_id"], r["relation"]),
        "key_registry": lambda r: (r["key_id"],),
        "tree_node": lambda r: (r["level"], r["idx"]),
    }[table](row)


def _stored(conn: Connection, table: str) -> list[dict[str, Any]]:
    model = {"record": m.Record, "record_control": m.RecordControl, "key_registry": m.KeyRegistry,
             "tree_node": m.TreeNode}[table]
    return [dict(r) for r in conn.execute(select(model)).mappings()]


def check_projections(engine: Engine) -> list[str]:
    """Every difference between the stored projections and what the entries imply (empty = consistent)."""
    problems: list[str] = []
    with read_transaction(engine) as conn:
        built = rebuild(conn)
        for table in TABLES:
            want = {_key(table, r): r for r in getattr(built, table)}
            have = {_key(table, r): r for r in _stored(conn, table)}
            for k in sorted(set(want) | set(have), key=repr):
                if k not in have:
                    problems.append(f"{table} {k}: missing")
                elif k not in want:
                    problems.append(f"{table} {k}: not derived from any entry")
                elif _norm(have[k]) != _norm(want[k]):
                    cols = sorted(c for c in want[k] if _norm(have[k]).get(c) != _norm(want[k]).get(c))
                    problems.append(f"{table} {k}: {', '.join(cols)} differ from the entries")
    return problems


def _norm(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def rebuild_projections(engine: Engine) -> Projections:
    """Replace every projection with rows derived from the entries (one transaction)."""
    with write_transaction(engine) as conn:
        read_head(conn, lock=True)
        built = rebuild(conn)
        for model in (m.RecordControl, m.Record, m.KeyRegistry, m.TreeNode):
            conn.execute(delete(model))
        # Written exactly as append writes them (the same driver-level insert).
        insert_raw(conn, m.Record.__table__, built.record)  # type: ignore[attr-defined]
        insert_raw(conn, m.RecordControl.__table__, built.record_control)  # type: ignore[attr-defined]
        if built.key_registry:
            conn.execute(insert(m.KeyRegistry), built.key_registry)
        insert_raw(conn, m.TreeNode.__table__, built.tree_node)  # type: ignore[attr-defined]
    return built
