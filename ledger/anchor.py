"""Anchoring reads to signed bytes: the head must extend the latest signed checkpoint,
and each entry a decision uses must be in the tree that head names.

The release gate and the audit package decide on a few entries; they read them
through the projections (which a database writer could have altered) and then
prove them: entry hash, payload digest and signatures (``controls.state``), and
here, inclusion in the current tree, whose head is proven consistent with the
newest stored checkpoint the ledger key signed. A head rewound below that
checkpoint, or history rewritten under it, is an integrity failure, never a
verdict. Entries appended after the checkpoint are authenticated by their
signatures only (a checkpoint is what fixes history).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ledger import models as m
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    admin_note_keys,
    open_checkpoint,
)
from ledger.errors import IntegrityError
from ledger.head import Head, node_reader, not_initialised, read_head
from ledger.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.registry import Registry

_VERIFY = "run 'assure verify'"


@dataclass(frozen=True)
class Anchor:
    """The head a decision reads, and the signed checkpoint it was proven to extend."""

    head: Head
    checkpoint: Checkpoint | None


def anchored_head(conn: Connection, registry: Registry) -> Anchor:
    """The head, checked against the stored entries and the newest stored checkpoint.

    Raises:
        IntegrityError: if the head disagrees with the stored entries (rewound or
            altered), or does not extend the newest checkpoint.
    """
    head = read_head(conn)
    if head is None:
        raise not_initialised()
    stored = conn.execute(select(func.max(m.Entry.seq))).scalar()
    stored = -1 if stored is None else int(stored)
    if stored + 1 != head.size:
        raise IntegrityError(f"the ledger head says {head.size} entries but {stored + 1} are stored "
                             f"(the head was rewound or altered): {_VERIFY}")
    last = conn.execute(select(m.Entry.entry_hash).where(m.Entry.seq == head.size - 1)).scalar()
    if head.size and bytes(last or b"") != head.last_hash:
        raise IntegrityError(f"the ledger head's last hash is not the last entry's: {_VERIFY}")
    row = conn.execute(select(m.Checkpoint.size, m.Checkpoint.note).order_by(m.Checkpoint.size.desc()).limit(1)).first()
    if row is None:
        return Anchor(head, None)
    try:
        cp = open_checkpoint(row[1], origin=head.origin, keys=admin_note_keys(registry, head.origin))
    except CheckpointError as e:
        raise IntegrityError(f"the newest stored checkpoint (size {row[0]}) does not verify: {e}; {_VERIFY}") from e
    if cp.size > head.size:
        raise IntegrityError(f"the ledger has {head.size} entries but its signed checkpoint covers {cp.size}: "
                             f"it was truncated or rewound; {_VERIFY}")
    proof = consistency_proof(cp.size, head.size, node_reader(conn))
    try:
        verify_consistency(cp.size, head.size, cp.root, head.root, proof)
    except ProofError as e:
        raise IntegrityError(f"the ledger does not extend its signed checkpoint of size {cp.size} "
                             f"(history rewritten, or the head or Merkle nodes altered): {_VERIFY}") from e
    return Anchor(head, cp)


def prove_included(conn: Connection, head: Head, leaves: Mapping[int, bytes]) -> None:
    """Prove each leaf (by seq) is in the tree ``head`` names.

    Raises:
        IntegrityError: naming the first entry that is not.
    """
    seqs = sorted(s for s in leaves if s < head.size)
    node = node_reader(conn, proofs_of=(seqs, head.size))
    for seq in seqs:
        proof = inclusion_proof(seq, head.size, node)
        try:
            verify_inclusion(leaf_hash(leaves[seq]), seq, head.size, proof, head.root)
        except ProofError as e:
            raise IntegrityError(f"not in the ledger's Merkle tree (entry or nodes altered): {_VERIFY}", seq=seq) from e
    beyond = [s for s in leaves if s >= head.size]
    if beyond:
        raise IntegrityError(f"beyond the ledger head ({head.size} entries): {_VERIFY}", seq=min(beyond))
