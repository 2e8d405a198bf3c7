"""Collect what a bundle carries from the ledger database, in one read snapshot.

Reads the entries in scope (with their payloads), builds their inclusion proofs
against a given checkpoint from the stored Merkle nodes, and the consistency
proofs from every earlier stored checkpoint. The scope is chosen with the
``record`` projection (system, kind, received_at), exactly as coverage chooses
its records; everything taken from it is then carried as the original bytes and
verified from those, never from the projection.

This module computes no coverage and renders nothing (see :mod:`reports.package`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from ledger import models as m
from ledger.checkpoint import Checkpoint
from ledger.db import read_transaction
from ledger.dsse import Envelope
from ledger.entry import Leaf
from ledger.errors import IntegrityError
from ledger.head import node_reader
from ledger.merkle import consistency_proof, inclusion_proof
from ledger.records import KEY_KINDS, ORG_WIDE
from reports.bundle import BundleEntry, EarlierCheckpoint


@dataclass(frozen=True)
class Collected:
    """The ledger part of a bundle."""

    entries: tuple[BundleEntry, ...]
    earlier: tuple[EarlierCheckpoint, ...]


def collect(engine: Engine, system: str, *, as_of: dt.datetime, checkpoint: Checkpoint) -> Collected:
    """Entries in scope with inclusion proofs, and earlier checkpoints with consistency proofs.

    In scope: every entry below the checkpoint's size that is a record of
    ``system`` or organisation-wide (``*``) received by ``as_of`` (retractions and
    superseded records included, so coverage recomputes the same), and every key
    event (``key.trust``, ``key.revoke``, the genesis entry among them), so the
    signers of all of them can be checked.

    Args:
        engine: the ledger database.
        system: the AI system.
        as_of: the cut-off on ``received_at``.
        checkpoint: the signed checkpoint the proofs lead to.

    Returns:
        The entries in sequence order and the earlier checkpoints in size order.

    Raises:
        IntegrityError: if an entry in scope has no payload (redacted or lost).
    """
    size = checkpoint.size
    in_scope = or_(
        and_(m.Record.system.in_([system, ORG_WIDE]), m.Record.received_at <= as_of),  # type: ignore[union-attr]
        m.Record.kind.in_(sorted(KEY_KINDS)),  # type: ignore[attr-defined]
    )
    stmt = (
        select(m.Entry.seq, m.Entry.entry_hash, m.Entry.prev_hash, m.Entry.leaf, m.Payload.body)  # type: ignore[call-overload]
        .join(m.Record, m.Record.seq == m.Entry.seq)
        .outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .where(m.Entry.seq < size, in_scope)
        .order_by(m.Entry.seq)
    )
    with read_transaction(engine) as conn:
        rows = conn.execute(stmt).all()
        node = node_reader(conn)
        entries = []
        for seq, ehash, prev, leaf_bytes, body in rows:
            if body is None:
                raise IntegrityError("the payload of this entry is missing; it cannot be packaged", seq=seq)
            leaf = Leaf.from_bytes(leaf_bytes)
            entries.append(BundleEntry(
                seq=seq, entry_hash=bytes(ehash), prev_hash=bytes(prev), leaf=bytes(leaf_bytes),
                envelope=Envelope(leaf.payload_type, bytes(body), leaf.signatures),
                inclusion_proof=tuple(inclusion_proof(seq, size, node)),
            ))
        stored = conn.execute(
            select(m.Checkpoint.size, m.Checkpoint.note)  # type: ignore[call-overload]
            .where(m.Checkpoint.size > 0, m.Checkpoint.size < size)
            .order_by(m.Checkpoint.size)
        ).all()
        earlier = tuple(
            EarlierCheckpoint(s, note, tuple(consistency_proof(s, size, node))) for s, note in stored
        )
    return Collected(tuple(entries), earlier)
