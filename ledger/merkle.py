"""RFC 9162 Merkle trees (SHA-256): hashing, an incremental frontier, proofs.

What this module does:

* the hashes of RFC 9162 §2.1.1: ``leaf_hash = SHA-256(0x00 || data)``,
  ``node_hash = SHA-256(0x01 || left || right)``, the empty root ``SHA-256("")``;
* :class:`Frontier`, the compact range of a tree (at most 64 hashes), which keeps
  the root up to date in O(log n) per append and reports every perfect subtree an
  append completes, so a store can keep exactly those nodes;
* inclusion and consistency proof *generation* (RFC 9162 §2.1.3.1 PATH and
  §2.1.4.1 PROOF) from any store of perfect-subtree nodes, and from memory
  (:class:`MemoryTree`, for building many proofs against one tree);
* inclusion and consistency proof *verification*, exactly as RFC 9162 §2.1.3.2
  and §2.1.4.2 specify, with the proof length checked first so a short or
  over-long proof is rejected with a message that says so.

What it does not do: it does no I/O, knows nothing of databases, entries,
checkpoints or signatures, and does not decide which tree sizes and roots to
trust. A proof only relates the sizes and roots it is given: they must come from
a verified, signed checkpoint, never from the party that supplied the proof (see
:func:`verify_consistency`). It does not hash leaf *data* for you beyond
:func:`leaf_hash`; everything else takes 32-byte leaf hashes.

Node addressing used throughout: ``(level, index)`` names the perfect subtree of
``2**level`` leaves covering leaves ``[index * 2**level, (index + 1) * 2**level)``;
level 0 is a leaf hash, at its leaf index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from ledger.errors import IntegrityError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Frontier",
    "MemoryTree",
    "NodeReader",
    "ProofError",
    "consistency_proof",
    "consistency_proof_from_leaves",
    "consistency_proof_size",
    "inclusion_proof",
    "inclusion_proof_from_leaves",
    "inclusion_proof_size",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size handled (a frontier then holds 64 hashes)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the root of the empty tree, SHA-256 of the empty string."""

NodeReader = Callable[[int, int], bytes]
"""``node(level, index)``: the stored hash of a perfect subtree inside the tree."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(IntegrityError):
    """A Merkle proof failed verification, or is malformed.

    ``reason`` says what was wrong, e.g. "inclusion proof has 5 hashes, expected 4
    for index 3 in tree of size 12".
    """


# --------------------------------------------------------------------------------------
# Hashing


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)``.

    Args:
        data: the leaf bytes, exactly as stored.

    Returns:
        The 32-byte leaf hash.
    """
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``.

    Args:
        left: the 32-byte hash of the left child.
        right: the 32-byte hash of the right child.

    Returns:
        The 32-byte node hash. Lengths are not checked here (hot path).
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return MTH, the Merkle tree hash of a list of leaf hashes.

    Computed bottom-up: each level pairs nodes left to right and carries an odd
    last node up unchanged, which gives the same root as the RFC's recursive split
    at the largest power of two smaller than n. O(n) time and memory.

    Args:
        hashes: the leaf hashes (32 bytes each), in leaf order.

    Returns:
        The root; :data:`EMPTY_ROOT` for an empty list.
    """
    level = list(hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [
            node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


# --------------------------------------------------------------------------------------
# Frontier (compact range)


class Frontier:
    """The compact range of a tree: roots of its maximal perfect subtrees.

    For a tree of size n these are the subtrees given by the binary decomposition
    of n, largest (leftmost) first: ``popcount(n)`` hashes, at most 64. They are
    all that is needed to compute the root and to append.

    Args:
        size: the number of leaves in the tree.
        hashes: the subtree roots, left to right (``popcount(size)`` of them).

    Raises:
        TypeError: if the size is not an int.
        ValueError: if the size is out of range or the hashes do not fit it.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"tree size must be an int, not {type(size).__name__}")
        if not 0 <= size <= MAX_TREE_SIZE:
            raise ValueError(f"tree size {size} is outside 0..2**64-1")
        stored = [bytes(h) for h in hashes]
        expected = size.bit_count()
        if len(stored) != expected:
            raise ValueError(
                f"a frontier for tree size {size} has {expected} hashes, "
                f"got {len(stored)}"
            )
        for i, h in enumerate(stored):
            if len(h) != HASH_SIZE:
                raise ValueError(
                    f"frontier hash {i} is {len(h)} bytes, not {HASH_SIZE}"
                )
        self._size = size
        self._hashes = stored

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots, left (largest) to right (smallest)."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash.

        Args:
            leaf_hash: the 32-byte leaf hash (``leaf_hash(data)``, not the data).

        Returns:
            The perfect-subtree nodes this append completed, as ``(level, index,
            hash)``, bottom-up: first ``(0, leaf_index, leaf_hash)``, then each
            node completed by merging with the frontier. Storing every returned
            node (over all appends) stores every perfect subtree of the tree.

        Raises:
            ValueError: if the hash is not 32 bytes or the tree is full.
        """
        h = bytes(leaf_hash)
        if len(h) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(h)}")
        n = self._size
        if n >= MAX_TREE_SIZE:
            raise ValueError("the tree is full (2**64-1 leaves)")
        completed = [(0, n, h)]
        level = 0
        while (n >> level) & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            completed.append((level, n >> level, h))
        self._hashes.append(h)
        self._size = n + 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append several leaf hashes in order.

        Args:
            leaf_hashes: the 32-byte leaf hashes.

        Returns:
            All nodes completed, in the order :meth:`append` reported them.

        Raises:
            ValueError: as :meth:`append`; leaves before the bad one stay appended.
        """
        completed: list[tuple[int, int, bytes]] = []
        for h in leaf_hashes:
            completed.extend(self.append(h))
        return completed

    def root(self) -> bytes:
        """Return the root of the tree (:data:`EMPTY_ROOT` when empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        root = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            root = node_hash(h, root)
        return root

    def to_bytes(self) -> bytes:
        """Serialize the hashes: their concatenation (the size is stored apart)."""
        return b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild a frontier from :meth:`to_bytes` output and its tree size.

        Args:
            size: the tree size the frontier was saved at.
            data: the concatenated 32-byte hashes.

        Returns:
            The frontier.

        Raises:
            ValueError: if ``len(data)`` is not ``32 * popcount(size)``.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"tree size must be a non-negative int, not {size!r}")
        expected = size.bit_count()
        if len(data) != HASH_SIZE * expected:
            raise ValueError(
                f"a frontier for tree size {size} is {HASH_SIZE * expected} bytes "
                f"({expected} hashes), got {len(data)} bytes"
            )
        data = bytes(data)
        return cls(
            size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        )

    def copy(self) -> Frontier:
        """Return an independent copy."""
        return Frontier(self._size, self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()[:16]}…)"


# --------------------------------------------------------------------------------------
# Proof generation


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")


def _trivial_consistency(old_size: int, new_size: int) -> bool:
    """Check ``0 <= old_size <= new_size``; True if the proof is empty."""
    if not 0 <= old_size <= new_size:
        raise ValueError(
            f"no consistency proof from tree size {old_size} to {new_size}"
        )
    return old_size == 0 or old_size == new_size


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(start: int, end: int, node: NodeReader) -> bytes:
    """MTH of leaves ``[start, end)`` from perfect-subtree nodes.

    ``start`` must be a multiple of a power of two >= ``end - start`` (true of
    every subtree in the RFC's recursion). The range is cut into its maximal
    aligned perfect subtrees, largest first, and folded right to left; only
    those perfect subtrees are read.
    """
    parts = []
    while start < end:
        level = (end - start).bit_length() - 1
        parts.append(node(level, start >> level))
        start += 1 << level
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = node_hash(left, h)
    return h


def root_from_nodes(size: int, node: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves, from stored perfect-subtree nodes (O(log n) reads)."""
    return _range_hash(0, size, node) if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int, node: NodeReader) -> list[bytes]:
    """Build the inclusion proof PATH(index, D[size]) of RFC 9162 §2.1.3.1.

    Only perfect subtrees lying entirely inside ``size`` are read; hashes of
    imperfect right-edge subtrees are computed from them. O(log n) reads.

    Args:
        index: the leaf index, ``0 <= index < size``.
        size: the tree size the proof is for.
        node: ``node(level, idx)`` returning a stored perfect-subtree hash.

    Returns:
        The audit path, from the leaf's sibling up to the root's child.

    Raises:
        ValueError: if ``index`` is not inside the tree.
    """
    _check_index(index, size)
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(_range_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(_range_hash(start, start + k, node))
            start += k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, node: NodeReader) -> list[bytes]:
    """Build the consistency proof PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1.

    Only perfect subtrees lying entirely inside ``new_size`` are read. The proof
    is empty when ``old_size`` is 0 or equals ``new_size`` (the RFC defines
    PROOF only for ``0 < old_size < new_size``; :func:`verify_consistency`
    accepts exactly these empty proofs).

    Args:
        old_size: the earlier tree size.
        new_size: the later tree size.
        node: ``node(level, idx)`` returning a stored perfect-subtree hash.

    Returns:
        The proof hashes, in RFC order.

    Raises:
        ValueError: unless ``0 <= old_size <= new_size``.
    """
    if _trivial_consistency(old_size, new_size):
        return []
    proof: list[bytes] = []
    start, end, whole = 0, new_size, True
    while True:
        if old_size == end:
            # SUBPROOF(m, D[m], b): the old subtree itself, unless it is the
            # whole old tree (the verifier already holds that root).
            if not whole:
                proof.append(_range_hash(start, end, node))
            break
        k = _split(end - start)
        if old_size - start <= k:
            proof.append(_range_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(_range_hash(start, start + k, node))
            start += k
            whole = False
    proof.reverse()
    return proof


class MemoryTree:
    """A whole tree in memory, with every perfect-subtree hash precomputed.

    Building it costs about n node hashes, once; after that each root, inclusion
    or consistency proof (for the full tree or any prefix of it) is O(log n).
    Use it to build many proofs against one tree, e.g. an audit package.

    Args:
        leaf_hashes: the 32-byte leaf hashes, in leaf order.

    Raises:
        ValueError: if a leaf hash is not 32 bytes.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes]):
        level = [bytes(h) for h in leaf_hashes]
        for i, h in enumerate(level):
            if len(h) != HASH_SIZE:
                raise ValueError(f"leaf hash {i} is {len(h)} bytes, not {HASH_SIZE}")
        self._levels = [level]
        while len(level) > 1:
            level = [
                node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)
            ]
            self._levels.append(level)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def node(self, level: int, idx: int) -> bytes:
        """Return the hash of the perfect subtree ``(level, idx)``.

        Args:
            level: the subtree height (0 = a leaf).
            idx: its index among subtrees of that height.

        Returns:
            The 32-byte hash.

        Raises:
            KeyError: if that subtree is not entirely inside the tree.
        """
        if (
            level < 0
            or idx < 0
            or level >= len(self._levels)
            or idx >= len(self._levels[level])
        ):
            raise KeyError(
                f"no perfect subtree (level {level}, index {idx}) "
                f"in a tree of size {self.size}"
            )
        return self._levels[level][idx]

    def _size_arg(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the first ``size`` leaves (default: all).

        Raises:
            ValueError: if ``size`` is larger than the tree.
        """
        size = self._size_arg(size)
        return _range_hash(0, size, self.node) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

        Raises:
            ValueError: if ``size`` is larger than the tree or ``index`` not inside it.
        """
        return inclusion_proof(index, self._size_arg(size), self.node)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """Return the consistency proof from tree size ``old`` to ``new`` (default all).

        Raises:
            ValueError: unless ``0 <= old <= new <= size``.
        """
        return consistency_proof(old, self._size_arg(new), self.node)


def inclusion_proof_from_leaves(
    index: int, leaf_hashes: Sequence[bytes]
) -> list[bytes]:
    """Return the inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``.

    O(n); for many proofs against one tree build a :class:`MemoryTree` once.

    Raises:
        ValueError: if ``index`` is not inside the tree.
    """
    return MemoryTree(leaf_hashes).inclusion_proof(index)


def consistency_proof_from_leaves(
    old_size: int, leaf_hashes: Sequence[bytes]
) -> list[bytes]:
    """Return the consistency proof from ``old_size`` to the tree of ``leaf_hashes``.

    O(n); for many proofs against one tree build a :class:`MemoryTree` once.

    Raises:
        ValueError: unless ``0 <= old_size <= len(leaf_hashes)``.
    """
    return MemoryTree(leaf_hashes).consistency_proof(old_size)


# --------------------------------------------------------------------------------------
# Proof verification


def inclusion_proof_size(index: int, size: int) -> int:
    """Return how many hashes the inclusion proof of ``index`` in ``size`` has.

    Raises:
        ValueError: if ``index`` is not inside the tree.
    """
    _check_index(index, size)
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_size(old_size: int, new_size: int) -> int:
    """Return the number of hashes in the consistency proof from old to new size.

    Zero when ``old_size`` is 0 or equals ``new_size``.

    Raises:
        ValueError: unless ``0 <= old_size <= new_size``.
    """
    if _trivial_consistency(old_size, new_size):
        return 0
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    shift = (old_size & -old_size).bit_length() - 1  # trailing zero bits
    seed = 0 if old_size == 1 << shift else 1  # the old root is in the proof
    return seed + (inner - shift) + border


def _short(h: bytes) -> str:
    return h.hex()[:12] + "…"


def _hash_arg(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ProofError(f"{what} is a {type(value).__name__}, not bytes")
    value = bytes(value)
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")
    return value


def _size_arg(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{what} is a {type(value).__name__}, not an int")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(f"{what} {value} is outside 0..2**64-1")
    return value


def _proof_arg(proof: Sequence[bytes]) -> list[bytes]:
    return [_hash_arg(p, f"proof hash {i}") for i, p in enumerate(proof)]


def root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1 to 4).

    The caller must compare the result with a root it trusts; use
    :func:`verify_inclusion` to have that done.

    Args:
        leaf_hash: the 32-byte leaf hash (not the leaf data).
        index: the leaf index.
        size: the tree size.
        proof: the audit path.

    Returns:
        The computed 32-byte root.

    Raises:
        ProofError: if ``index >= size``, the proof has the wrong number of hashes,
            or any hash is not 32 bytes.
    """
    leaf = _hash_arg(leaf_hash, "leaf hash")
    index = _size_arg(index, "leaf index")
    size = _size_arg(size, "tree size")
    path = _proof_arg(proof)
    if index >= size:  # step 1
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    expected = inclusion_proof_size(index, size)
    if len(path) != expected:
        raise ProofError(
            f"inclusion proof has {len(path)} hashes, expected {expected} "
            f"for index {index} in tree of size {size}"
        )
    fn, sn = index, size - 1  # step 2
    r = leaf  # step 3
    for p in path:  # step 4
        if sn == 0:
            raise ProofError(
                f"inclusion proof is too long for index {index} in tree of size {size}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5, first half
        raise ProofError(
            f"inclusion proof is too short for index {index} in tree of size {size}"
        )
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof exactly as RFC 9162 §2.1.3.2.

    ``size`` and ``root`` must come from a verified checkpoint, not from whoever
    supplied the proof.

    Args:
        leaf_hash: the 32-byte leaf hash (not the leaf data).
        index: the leaf index.
        size: the tree size.
        proof: the audit path.
        root: the trusted root of the tree of ``size`` leaves.

    Raises:
        ProofError: if the proof is malformed or does not lead to ``root``.
    """
    expected_root = _hash_arg(root, "root")
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    if computed != expected_root:
        raise ProofError(
            f"computed root {_short(computed)} != "
            f"expected root {_short(expected_root)} "
            f"(inclusion of index {index} in tree of size {size})"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Verify a consistency proof exactly as RFC 9162 §2.1.4.2.

    Success means: the tree whose root is ``old_root`` is a prefix of the tree
    whose root is ``new_root``, *given* that those roots are of trees of
    ``old_size`` and ``new_size`` leaves. The proof does **not** bind the sizes to
    the roots: the honest proof from size 1 to size 3 also verifies as "size 1 to
    size 4 with root R3" (same length, same chaining), and many such pairs exist.
    So both sizes and both roots must be taken from verified signed checkpoints,
    never from the party that supplied the proof; a full audit should recompute
    the root from all leaves.

    Edge cases (outside the RFC's ``0 < old_size < new_size``): equal sizes need
    an empty proof and equal roots; ``old_size == 0`` needs an empty proof and
    ``old_root == EMPTY_ROOT``, and then proves nothing about ``new_root``.

    Args:
        old_size: the earlier tree size.
        new_size: the later tree size.
        old_root: the trusted root at ``old_size``.
        new_root: the trusted root at ``new_size``.
        proof: the consistency proof hashes.

    Raises:
        ProofError: if ``old_size > new_size``, the proof has the wrong number of
            hashes, or it does not lead to both roots.
    """
    old_size = _size_arg(old_size, "old tree size")
    new_size = _size_arg(new_size, "new tree size")
    old_root = _hash_arg(old_root, "old root")
    new_root = _hash_arg(new_root, "new root")
    path = _proof_arg(proof)
    if old_size > new_size:
        raise ProofError(
            f"old tree size {old_size} is larger than new tree size {new_size}"
        )
    if old_size == new_size or old_size == 0:
        if path:
            raise ProofError(
                f"consistency proof from size {old_size} to {new_size} must be empty, "
                f"got {len(path)} hashes"
            )
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError(f"old root {_short(old_root)} is not the empty-tree root")
        if old_size == new_size and old_root != new_root:
            raise ProofError(
                f"roots differ for the same tree size {old_size}: "
                f"{_short(old_root)} != {_short(new_root)}"
            )
        return
    if not path:  # step 1
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} is empty"
        )
    expected = consistency_proof_size(old_size, new_size)
    if len(path) != expected:
        raise ProofError(
            f"consistency proof has {len(path)} hashes, expected {expected} "
            f"from tree size {old_size} to {new_size}"
        )
    if old_size & (old_size - 1) == 0:  # step 2
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError(
                f"consistency proof from size {old_size} to {new_size} is too long"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} is too short"
        )
    if fr != old_root:
        raise ProofError(
            f"computed old root {_short(fr)} != expected old root {_short(old_root)} "
            f"(consistency from tree size {old_size} to {new_size})"
        )
    if sr != new_root:
        raise ProofError(
            f"computed new root {_short(sr)} != expected new root {_short(new_root)} "
            f"(consistency from tree size {old_size} to {new_size})"
        )
