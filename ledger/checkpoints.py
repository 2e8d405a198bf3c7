"""Issuing signed checkpoints (C2SP tlog-checkpoint notes) for this ledger.

A checkpoint is signed only by an active admin key, only after the tree has
been recomputed from the stored leaves, and only if it is consistent with the
newest checkpoint issued before it (C2SP: a log must never sign a checkpoint
inconsistent with one it signed earlier). Checkpoints are stored in the
``checkpoint`` table so ``assure verify`` re-checks them; auditors should keep
copies outside the database (``assure verify --against FILE``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from ledger import models as m
from ledger.append import Appended
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    admin_note_keys,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.db import read_transaction, write_transaction
from ledger.errors import InputError, IntegrityError, LedgerStateError
from ledger.head import Head, node_reader, read_head
from ledger.keys import PrivateKey
from ledger.merkle import Frontier, inclusion_proof, leaf_hash
from ledger.proofs import receipt_json
from ledger.timeutil import utcnow
from ledger.trusted_keys import load_registry


def require_admin_key(engine: Engine, key: PrivateKey) -> None:
    """Raise InputError unless ``key`` is an active admin key of this ledger (checked
    before work that would be wasted, e.g. an append whose receipt it must sign)."""
    with read_transaction(engine) as conn:
        _require_admin(conn, key)


def _require_admin(conn: Connection, key: PrivateKey) -> None:
    state = load_registry(conn).get(key.public.key_id)
    if state is None or state.role != "admin" or state.revoked_seq is not None:
        raise InputError(
            f"key {key.public.key_id[:16]}… is not an active admin key of this ledger; "
            "checkpoints are signed with the ledger's admin key"
        )


def recompute_frontier(conn: Connection, size: int, *, roots_at: dict[int, bytes] | None = None) -> Frontier:
    """Rebuild the Merkle frontier from the first ``size`` stored leaves (hashes only).

    Args:
        conn: an open connection.
        size: how many leaves.
        roots_at: sizes whose root to record on the way, filled in place
            (one pass gives both the current root and an earlier checkpoint's).
    """
    frontier = Frontier()
    rows = conn.execute(
        select(m.Entry.leaf).where(m.Entry.seq < size).order_by(m.Entry.seq)  # type: ignore[arg-type]
        .execution_options(yield_per=5000)
    )
    for (leaf,) in rows:
        frontier.append(leaf_hash(leaf))
        if roots_at is not None and frontier.size in roots_at:
            roots_at[frontier.size] = frontier.root()
    return frontier


def sign_head(conn: Connection, head: Head, key: PrivateKey, *, now: dt.datetime) -> str:
    """Sign and store a checkpoint for ``head`` as read in this transaction."""
    cp = Checkpoint(origin=head.origin, size=head.size, root=head.root)
    existing = conn.execute(
        select(m.Checkpoint.root, m.Checkpoint.note).where(m.Checkpoint.size == head.size)  # type: ignore[arg-type]
    ).first()
    if existing is not None:
        if existing[0] != head.root:
            raise IntegrityError(f"a checkpoint for size {head.size} with a different root exists")
        return str(existing[1])
    note = sign_checkpoint(cp, name=head.origin, key=key)
    conn.execute(insert(m.Checkpoint).values(size=head.size, root=head.root, note=note, created_at=now))
    return note


def issue_checkpoint(engine: Engine, key: PrivateKey, *, now: dt.datetime | None = None) -> tuple[Checkpoint, str]:
    """Recompute the tree, check it against the head and the last checkpoint, and sign it.

    Raises:
        InputError: if ``key`` is not an active admin key.
        IntegrityError: if the stored tree disagrees with the head or with an
            earlier checkpoint (nothing is signed then).
    """
    now = now or utcnow()
    with write_transaction(engine) as conn:
        head = read_head(conn, lock=True)
        if head is None:
            raise LedgerStateError("the ledger is not initialised: run 'assure init'")
        _require_admin(conn, key)
        last = _newest_signed(conn, head.origin)
        if last is not None and last[0] > head.size:
            raise IntegrityError(
                f"a checkpoint covers {last[0]} entries but the ledger has {head.size}; refusing to sign"
            )
        roots: dict[int, bytes] = {last[0]: b""} if last is not None else {}
        frontier = recompute_frontier(conn, head.size, roots_at=roots)
        if frontier.size != head.size or frontier.root() != head.root:
            raise IntegrityError("stored entries do not match the head; run 'assure verify'")
        if last is not None and roots[last[0]] != last[1]:
            raise IntegrityError(
                f"the ledger is not consistent with the checkpoint of size {last[0]}; refusing to sign"
            )
        note = sign_head(conn, head, key, now=now)
    return Checkpoint(origin=head.origin, size=head.size, root=head.root), note


def _newest_signed(conn: Connection, origin: str) -> tuple[int, bytes] | None:
    """Size and root of the newest stored checkpoint, from its signed note (not the root column).

    Raises:
        IntegrityError: if the note does not verify under any admin key the ledger trusted.
    """
    row = conn.execute(
        select(m.Checkpoint.size, m.Checkpoint.note).order_by(m.Checkpoint.size.desc()).limit(1)  # type: ignore[attr-defined]
    ).first()
    if row is None:
        return None
    try:
        cp = open_checkpoint(row[1], origin=origin, keys=admin_note_keys(load_registry(conn), origin))
    except CheckpointError as e:
        raise IntegrityError(f"the newest stored checkpoint (size {row[0]}) does not verify: {e}; "
                             "run 'assure verify'") from e
    return cp.size, cp.root


def latest_checkpoint(engine: Engine) -> str | None:
    """The newest stored checkpoint note, if any."""
    with read_transaction(engine) as conn:
        return conn.execute(
            select(m.Checkpoint.note).order_by(m.Checkpoint.size.desc()).limit(1)  # type: ignore[attr-defined]
        ).scalar()


def receipts(
    engine: Engine,
    appended: Sequence[Appended],
    *,
    checkpoint_key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Receipts for just-appended entries: leaf, inclusion proof, and the tree head they
    are proven against, all read in one transaction so proof, size, root and (with
    ``checkpoint_key``, an active admin key) the signed checkpoint note agree even
    while other writers append.

    Raises:
        InputError: if ``checkpoint_key`` is not an active admin key (nothing signed).
    """
    now = now or utcnow()
    tx = write_transaction if checkpoint_key is not None else read_transaction
    with tx(engine) as conn:
        head = read_head(conn, lock=checkpoint_key is not None)
        if head is None:
            raise LedgerStateError("the ledger is not initialised: run 'assure init'")
        note = None
        if checkpoint_key is not None:
            _require_admin(conn, checkpoint_key)
            note = sign_head(conn, head, checkpoint_key, now=now)
        seqs = [a.seq for a in appended]
        node = node_reader(conn, around=(min(seqs), max(seqs) + 1) if seqs else None)
        proofs = [inclusion_proof(s, head.size, node) for s in seqs]
    return receipt_json(head.origin, head.size, head.root, note, appended, proofs)
