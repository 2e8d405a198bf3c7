"""Proofs on demand: inclusion of an entry in the tree of some size, consistency between two sizes.

What ``assure proof`` prints, so a pipeline that kept only a receipt (a seq and a
tree size) can later show its entry is still in the ledger and that the ledger
only grew. Every proof is verified against the roots before it is returned: a
stored Merkle node that was altered makes this fail instead of printing a proof
that would not verify elsewhere. Hashes are given in hex and in standard base64
(the form C2SP tools such as Go's ``sumdb/tlog`` expect).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from ledger import models as m
from ledger.append import Appended
from ledger.db import read_transaction
from ledger.errors import InputError, IntegrityError
from ledger.head import Head, node_reader, not_initialised, read_head, read_leaves
from ledger.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)


def _hashes(name: str, values: list[bytes]) -> dict[str, Any]:
    return {name: [h.hex() for h in values], name + "_base64": [base64.b64encode(h).decode() for h in values]}


def _hash(name: str, value: bytes) -> dict[str, Any]:
    return {name: value.hex(), name + "_base64": base64.b64encode(value).decode()}


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``index`` is leaf ``index`` of the tree of ``tree_size`` entries whose root is ``root``."""

    origin: str
    index: int
    tree_size: int
    leaf: bytes
    root: bytes
    proof: list[bytes]
    checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON form (hashes in hex and base64)."""
        return {"origin": self.origin, "index": self.index, "tree_size": self.tree_size,
                "leaf_base64": base64.b64encode(self.leaf).decode(), **_hash("leaf_hash", leaf_hash(self.leaf)),
                **_hash("root", self.root), **_hashes("proof", self.proof), "checkpoint": self.checkpoint}


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``new_size`` entries extends the tree of ``old_size``."""

    origin: str
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]
    checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON form (hashes in hex and base64)."""
        return {"origin": self.origin, "old_size": self.old_size, "new_size": self.new_size,
                **_hash("old_root", self.old_root), **_hash("new_root", self.new_root),
                **_hashes("proof", self.proof), "checkpoint": self.checkpoint}


def receipt_json(
    origin: str, size: int, root: bytes, note: str | None, appended: Sequence[Appended], proofs: Sequence[Sequence[bytes]]
) -> dict[str, Any]:
    """Receipts as ``assure append --json`` prints them: the tree head, and each entry's leaf
    and inclusion proof in it."""
    return {
        "origin": origin,
        "tree_size": size,
        "root": root.hex(),
        "checkpoint": note,
        "entries": [
            {
                "seq": a.seq,
                "entry_hash": a.entry_hash,
                "kind": a.kind,
                "system": a.system,
                "source": a.source,
                "leaf": base64.b64encode(a.leaf).decode("ascii"),
                "leaf_hash": leaf_hash(a.leaf).hex(),
                "inclusion_proof": [h.hex() for h in proof],
            }
            for a, proof in zip(appended, proofs, strict=True)
        ],
    }


def _head(conn: Connection) -> Head:
    head = read_head(conn)
    if head is None:
        raise not_initialised()
    return head


def _size(value: int | None, head: Head, what: str) -> int:
    size = head.size if value is None else value
    if not 0 <= size <= head.size:
        raise InputError(f"the ledger has {head.size} entries; a tree size is 0 to {head.size}", field=what)
    return size


def _root(conn: Connection, size: int, head: Head) -> bytes:
    if size == head.size:
        return head.root
    return root_from_nodes(size, node_reader(conn))


def _note(conn: Connection, size: int) -> str | None:
    return conn.execute(select(m.Checkpoint.note).where(m.Checkpoint.size == size)).scalar()  # type: ignore[arg-type]


def prove_inclusion(engine: Engine, seq: int, *, size: int | None = None) -> InclusionProof:
    """Entry ``seq`` in the tree of ``size`` entries (default: the whole ledger).

    Raises:
        InputError: if ``seq`` or ``size`` is outside the ledger.
        IntegrityError: if the stored nodes do not give a proof that verifies.
    """
    return prove_inclusions(engine, [seq], size=size)[0]


def prove_inclusions(engine: Engine, seqs: Sequence[int], *, size: int | None = None) -> list[InclusionProof]:
    """:func:`prove_inclusion` of each of ``seqs``, all in one tree and one read: the nodes
    their audit paths read are fetched up front, one query per level (an export proves
    thousands of entries; one query per node took minutes).

    Raises:
        InputError: if a seq or ``size`` is outside the ledger.
        IntegrityError: if the stored nodes do not give a proof that verifies.
    """
    with read_transaction(engine) as conn:
        head = _head(conn)
        size = _size(size, head, "--size")
        for seq in seqs:
            if not 0 <= seq < size:
                raise InputError(f"entry {seq} is not in a tree of {size} entries", field="SEQ")
        leaves = read_leaves(conn, seqs)
        root = _root(conn, size, head)
        node = node_reader(conn, proofs_of=(seqs, size))
        proofs = [inclusion_proof(seq, size, node) for seq in seqs]
        note = _note(conn, size)
    out = []
    for seq, proof in zip(seqs, proofs, strict=True):
        try:
            verify_inclusion(leaf_hash(leaves[seq]), seq, size, proof, root)
        except ProofError as e:
            raise IntegrityError(f"the stored Merkle nodes give no valid proof ({e.reason}): run 'assure verify'",
                                 seq=seq) from e
        out.append(InclusionProof(head.origin, seq, size, leaves[seq], root, proof, note))
    return out


def prove_consistency(engine: Engine, old: int, *, new: int | None = None) -> ConsistencyProof:
    """The tree of ``new`` entries (default: the whole ledger) extends the tree of ``old``.

    Raises:
        InputError: if the sizes are outside the ledger or ``old > new``.
        IntegrityError: if the stored nodes do not give a proof that verifies.
    """
    with read_transaction(engine) as conn:
        head = _head(conn)
        new = _size(new, head, "--to")
        old = _size(old, head, "--from")
        if old > new:
            raise InputError(f"--from {old} is after --to {new}", field="--from")
        old_root, new_root = _root(conn, old, head), _root(conn, new, head)
        proof = consistency_proof(old, new, node_reader(conn))
        note = _note(conn, new)
    try:
        verify_consistency(old, new, old_root, new_root, proof)
    except ProofError as e:
        raise IntegrityError(f"the stored Merkle nodes give no valid proof ({e.reason}): run 'assure verify'") from e
    return ConsistencyProof(head.origin, old, new, old_root, new_root, proof, note)
