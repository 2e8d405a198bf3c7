"""Collect what a bundle carries from the ledger database, in one read snapshot.

Reads the entries in scope (with their payloads), builds their inclusion proofs
against a given checkpoint from the stored Merkle nodes, the consistency proofs
from every earlier stored checkpoint, and the scope index proof of a committed
``scope_index`` entry. The scope is chosen with the ``record`` projection
(system, kind); everything taken from it is then carried as the original bytes
and verified from those, and the scope index (built from signed payloads) shows
whether the projection left anything out.

This module computes no coverage and renders nothing (see :mod:`reports.package`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
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
from ledger.scope_store import index_at
from reports.bundle import BundleEntry, Completeness, EarlierCheckpoint, ScopeProof
from reports.completeness import package_scopes


@dataclass(frozen=True)
class Collected:
    """The ledger part of a bundle."""

    entries: tuple[BundleEntry, ...]
    earlier: tuple[EarlierCheckpoint, ...]
    completeness: Completeness


def collect(engine: Engine, system: str, *, checkpoint: Checkpoint, index_seq: int) -> Collected:
    """Entries in scope with inclusion proofs, earlier checkpoints with consistency proofs,
    and the scope index proof.

    In scope: every entry below the checkpoint's size that is a record of
    ``system`` or organisation-wide (``*``), whenever received (retractions and
    superseded records included, so coverage recomputes the same; those received
    after the package's as-of are carried so the count is complete, and left out
    of coverage), every key event (``key.trust``, ``key.revoke``, the genesis
    entry among them), so the signers of all of them can be checked, and the
    ``scope_index`` entry ``index_seq``.

    Args:
        engine: the ledger database.
        system: the AI system.
        checkpoint: the signed checkpoint the proofs lead to.
        index_seq: a ``scope_index`` entry below the checkpoint's size.

    Returns:
        The entries in sequence order and the earlier checkpoints in size order.

    Raises:
        IntegrityError: if an entry in scope has no payload (redacted or lost).
    """
    size = checkpoint.size
    in_scope = or_(
        m.Record.system.in_([system, ORG_WIDE]),  # type: ignore[union-attr]
        m.Record.kind.in_(sorted(KEY_KINDS)),  # type: ignore[attr-defined]
        m.Record.seq == index_seq,
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
        node = node_reader(conn, proofs_of=([r[0] for r in rows], size))  # the paths' nodes: one query per level
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
        counter = index_at(conn, index_seq)
        proofs = counter.proofs(package_scopes(system))
    scopes = tuple(ScopeProof(counter.get(s), i, tuple(p)) for s, (i, p) in proofs.items())  # type: ignore[arg-type]
    return Collected(tuple(entries), earlier, Completeness(index_seq, scopes))
