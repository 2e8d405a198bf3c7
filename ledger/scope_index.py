"""The scope index: per-scope entry counts, committed inside the log, so a package can prove it left nothing out.

A *scope* is what a package covers: one system's id, ``*`` (organisation-wide
records), ``keys`` (key events, which decide whether signatures count) and
``index`` (scope index entries themselves). ``*`` always has a leaf (count 0
when empty). The **scope index at size N** is
one leaf per scope, ``{scope, count, last_seq, last_entry_hash}`` over entries
``0 … N-1``, sorted by scope; its **root** is the RFC 9162 Merkle root over the
RFC 8785 bytes of those leaves (the ledger's own leaf and node hashing, so one
proof verifier serves both trees).

The ledger commits a root by appending a ``scope_index`` record (signed by an
admin key) as entry N itself. An auditor holding a package, the index entry and
the leaves of the package's scopes with their inclusion proofs checks that the
bundle holds exactly ``count`` entries of each scope below N, the last being
``last_seq`` with ``last_entry_hash``; sibling hashes reveal no other scope's
name or count. ``assure verify`` recomputes every index entry from the entries.

Which scope an entry is in comes from its signed payload (its ``system``),
never from a projection. This module holds no SQL; ``ledger.scope_store``
reads and writes the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.canonical import canonical_json
from ledger.merkle import MemoryTree, leaf_hash, root_from_leaf_hashes
from ledger.records import KEY_KINDS, ORG_WIDE

KEYS_SCOPE = "keys"
INDEX_SCOPE = "index"


def scope_of(kind: str, system: str | None) -> str:
    """The scope of an entry of ``kind`` whose payload names ``system``."""
    if kind in KEY_KINDS:
        return KEYS_SCOPE
    if kind == "scope_index":
        return INDEX_SCOPE
    return str(system)


@dataclass(frozen=True)
class ScopeLeaf:
    """How many entries a scope had below the index's size, and its last one."""

    scope: str
    count: int
    last_seq: int
    last_entry_hash: str

    def to_bytes(self) -> bytes:
        """The leaf's canonical bytes (what the index tree hashes)."""
        return canonical_json({"count": self.count, "last_entry_hash": self.last_entry_hash,
                               "last_seq": self.last_seq, "scope": self.scope})

    def to_json(self) -> dict[str, object]:
        """JSON form."""
        return {"scope": self.scope, "count": self.count, "last_seq": self.last_seq,
                "last_entry_hash": self.last_entry_hash}


#: Scopes every index has a leaf for, even with no entries (count 0, last_seq -1), so a
#: package can prove "none" with an inclusion proof instead of revealing its neighbours.
ALWAYS = (ORG_WIDE,)


class ScopeCounter:
    """The scope index, built entry by entry (entries in any order; the last is the highest seq)."""

    def __init__(self, leaves: Iterable[ScopeLeaf] = ()) -> None:
        self._leaves: dict[str, ScopeLeaf] = {s: ScopeLeaf(s, 0, -1, "") for s in ALWAYS}
        self._leaves.update((leaf.scope, leaf) for leaf in leaves)

    def add(self, scope: str, seq: int, entry_hash: str) -> None:
        """Count one entry."""
        old = self._leaves.get(scope)
        if old is None:
            self._leaves[scope] = ScopeLeaf(scope, 1, seq, entry_hash)
        elif seq > old.last_seq:
            self._leaves[scope] = ScopeLeaf(scope, old.count + 1, seq, entry_hash)
        else:
            self._leaves[scope] = ScopeLeaf(scope, old.count + 1, old.last_seq, old.last_entry_hash)

    def merge(self, other: ScopeCounter) -> None:
        """Add another counter's entries (disjoint from this one's)."""
        for leaf in other.leaves():
            old = self._leaves.get(leaf.scope)
            if old is None:
                self._leaves[leaf.scope] = leaf
            else:
                last = leaf if leaf.last_seq > old.last_seq else old
                self._leaves[leaf.scope] = ScopeLeaf(leaf.scope, old.count + leaf.count, last.last_seq,
                                                     last.last_entry_hash)

    def copy(self) -> ScopeCounter:
        """An independent copy."""
        return ScopeCounter(self._leaves.values())

    def leaves(self) -> list[ScopeLeaf]:
        """The leaves in scope order."""
        return [self._leaves[s] for s in sorted(self._leaves)]

    def get(self, scope: str) -> ScopeLeaf | None:
        """One scope's leaf."""
        return self._leaves.get(scope)

    def root(self) -> bytes:
        """The index root."""
        return root_from_leaf_hashes([leaf_hash(leaf.to_bytes()) for leaf in self.leaves()])

    def proofs(self, scopes: Sequence[str]) -> dict[str, tuple[int, list[bytes]]]:
        """For each scope that has entries: its leaf index and inclusion proof in the index tree."""
        leaves = self.leaves()
        tree = MemoryTree([leaf_hash(leaf.to_bytes()) for leaf in leaves])
        where = {leaf.scope: i for i, leaf in enumerate(leaves)}
        return {s: (where[s], tree.inclusion_proof(where[s])) for s in scopes if s in where}
