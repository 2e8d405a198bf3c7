"""Tests for ledger.merkle against a recursive reference written from RFC 9162 §2.1.

The reference below (MTH, PATH, PROOF) follows the RFC's recursive definitions
literally and hashes with hashlib directly, so it shares no code with the module.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import IntegrityError
from ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryTree,
    ProofError,
    consistency_proof,
    consistency_proof_from_leaves,
    consistency_proof_size,
    inclusion_proof,
    inclusion_proof_from_leaves,
    inclusion_proof_size,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

N = 70  # exhaustive range: every tree size below N


# --------------------------------------------------------------------------------------
# Reference implementation: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1, recursively.


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: list[bytes]) -> bytes:
    """MTH over leaf *hashes* (MTH({d0}) = SHA-256(0x00 || d0) = hashes[0])."""
    n = len(hashes)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return hashes[0]
    k = _k(n)
    return _sha(b"\x01" + ref_mth(hashes[:k]) + ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(hashes)
    if n <= 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, hashes[:k]) + [ref_mth(hashes[k:])]
    return ref_path(m - k, hashes[k:]) + [ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(hashes)
    if m == n:
        return [] if b else [ref_mth(hashes)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, hashes[:k], b) + [ref_mth(hashes[k:])]
    return ref_subproof(m - k, hashes[k:], False) + [ref_mth(hashes[:k])]


def ref_proof(m: int, hashes: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n."""
    return ref_subproof(m, hashes, True)


def make_leaves(n: int, tag: str = "leaf") -> list[bytes]:
    return [_sha(b"\x00" + f"{tag} {i}".encode()) for i in range(n)]


LEAVES = make_leaves(N + 130)
ROOTS = [ref_mth(LEAVES[:n]) for n in range(N + 1)]
PATHS = {(i, n): ref_path(i, LEAVES[:n]) for n in range(1, N) for i in range(n)}
PROOFS = {(m, n): ref_proof(m, LEAVES[:n]) for n in range(2, N) for m in range(1, n)}


def strict_node(
    hashes: list[bytes], size: int, calls: list[tuple[int, int]] | None = None
):
    """A node reader that only answers for perfect subtrees inside ``size``."""

    def node(level: int, idx: int) -> bytes:
        assert level >= 0 and idx >= 0
        start, end = idx << level, (idx + 1) << level
        assert end <= size, (
            f"asked for ({level},{idx}) = [{start},{end}) outside size {size}"
        )
        if calls is not None:
            calls.append((level, idx))
        return ref_mth(hashes[start:end])

    return node


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def flipped(proof: list[bytes], j: int) -> list[bytes]:
    """The proof with hash ``j`` changed in one bit."""
    return [flip(h, j % 8) if k == j else h for k, h in enumerate(proof)]


# --------------------------------------------------------------------------------------
# Hashing


def test_hash_primitives_match_rfc():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert (
        EMPTY_ROOT.hex()
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert leaf_hash(b"") != EMPTY_ROOT  # domain separation


def test_rfc6962_known_answer_empty_and_single_leaf():
    # From RFC 6962 test data (also used by CT and transparency-dev): the hash
    # of an empty leaf, and the root of the 8-leaf reference tree's first leaf.
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert root_from_leaf_hashes([leaf_hash(b"")]) == leaf_hash(b"")


@pytest.mark.parametrize("n", range(N))
def test_root_from_leaf_hashes_matches_reference(n):
    assert root_from_leaf_hashes(LEAVES[:n]) == ROOTS[n]


def test_root_from_leaf_hashes_larger_sizes():
    for n in (127, 128, 129, 200):
        assert root_from_leaf_hashes(LEAVES[:n]) == ref_mth(LEAVES[:n])


# --------------------------------------------------------------------------------------
# Frontier


def test_frontier_root_and_emitted_nodes_for_every_prefix():
    f = Frontier()
    assert f.root() == EMPTY_ROOT and f.size == 0 and f.to_bytes() == b""
    stored: dict[tuple[int, int], bytes] = {}
    total = N + 130
    for n in range(1, total + 1):
        emitted = f.append(LEAVES[n - 1])
        assert emitted[0] == (0, n - 1, LEAVES[n - 1])
        assert [lvl for lvl, _, _ in emitted] == list(range(len(emitted)))
        for level, idx, h in emitted:
            start, end = idx << level, (idx + 1) << level
            assert end == n, "a node is completed by the append of its last leaf"
            assert h == ref_mth(LEAVES[start:end])
            assert (level, idx) not in stored
            stored[(level, idx)] = h
        assert f.size == n
        assert f.root() == ref_mth(LEAVES[:n])
        assert len(f.hashes) == n.bit_count() <= 64
        # every perfect subtree inside n has been emitted, and nothing else
        assert len(stored) == sum(n >> lvl for lvl in range(n.bit_length()))


def test_frontier_nodes_serve_proofs_for_every_earlier_size():
    """The ledger's use: store what append emits, build proofs for past sizes."""
    f = Frontier()
    stored: dict[tuple[int, int], bytes] = {}
    for h in LEAVES[:N]:
        for level, idx, node in f.append(h):
            stored[(level, idx)] = node

    for size in range(1, N):

        def node(level, idx, size=size):
            assert (idx + 1) << level <= size, "read a node outside the tree"
            return stored[(level, idx)]

        for i in range(size):
            assert inclusion_proof(i, size, node) == PATHS[(i, size)]
        for m in range(1, size):
            assert consistency_proof(m, size, node) == PROOFS[(m, size)]


def test_frontier_serialization_and_copy():
    f = Frontier()
    f.extend(LEAVES[:45])
    data = f.to_bytes()
    assert len(data) == 32 * (45).bit_count()
    g = Frontier.from_bytes(45, data)
    assert g == f and g.root() == f.root() == ROOTS[45]
    c = f.copy()
    c.append(LEAVES[45])
    assert f.size == 45 and f.root() == ROOTS[45]
    assert c.size == 46 and c.root() == ROOTS[46]
    assert Frontier(45, f.hashes) == f
    assert "size=45" in repr(f)


@pytest.mark.parametrize(
    ("size", "data"),
    [
        (45, b"\x00" * 32 * 3),
        (45, b"\x00" * (32 * 4 + 1)),
        (0, b"\x00" * 32),
        (1, b""),
        (-1, b""),
    ],
)
def test_frontier_from_bytes_rejects_wrong_length(size, data):
    with pytest.raises(ValueError):
        Frontier.from_bytes(size, data)


def test_frontier_rejects_bad_arguments():
    with pytest.raises(ValueError):
        Frontier(3, [LEAVES[0]])  # popcount(3) == 2
    with pytest.raises(ValueError):
        Frontier(1, [b"short"])
    with pytest.raises(TypeError):
        Frontier(True)
    with pytest.raises(ValueError):
        Frontier(-1)
    with pytest.raises(ValueError):
        Frontier(2**64)
    with pytest.raises(ValueError):
        Frontier().append(b"\x00" * 31)
    full = Frontier(2**64 - 1, [b"\x00" * 32] * 64)
    assert len(full.hashes) == 64
    with pytest.raises(ValueError, match="full"):
        full.append(LEAVES[0])


# --------------------------------------------------------------------------------------
# Proof generation


def test_inclusion_proofs_exhaustive():
    for n in range(1, N):
        tree = MemoryTree(LEAVES[:n])
        assert tree.root() == ROOTS[n]
        for i in range(n):
            calls: list[tuple[int, int]] = []
            proof = inclusion_proof(i, n, strict_node(LEAVES, n, calls))
            assert proof == PATHS[(i, n)]
            assert len(calls) <= 2 * n.bit_length()  # O(log n) reads
            assert tree.inclusion_proof(i) == proof
            assert len(proof) == inclusion_proof_size(i, n)
            verify_inclusion(LEAVES[i], i, n, proof, ROOTS[n])
            assert root_from_inclusion(LEAVES[i], i, n, proof) == ROOTS[n]


def test_consistency_proofs_exhaustive():
    for n in range(N):
        tree = MemoryTree(LEAVES[:n])
        for m in range(n + 1):
            calls: list[tuple[int, int]] = []
            proof = consistency_proof(m, n, strict_node(LEAVES, n, calls))
            expected = PROOFS[(m, n)] if 0 < m < n else []
            assert proof == expected
            assert len(calls) <= 2 * n.bit_length() + 2
            assert tree.consistency_proof(m) == proof
            assert len(proof) == consistency_proof_size(m, n)
            verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


def test_memory_tree_prefixes_and_nodes():
    tree = MemoryTree(LEAVES[:N])
    assert tree.size == N
    for size in range(N + 1):
        assert tree.root(size) == ROOTS[size]
    for size in (1, 17, 64, 69):
        for i in range(size):
            assert tree.inclusion_proof(i, size) == PATHS[(i, size)]
        for m in range(1, size):
            assert tree.consistency_proof(m, size) == PROOFS[(m, size)]
    assert tree.node(6, 0) == ROOTS[64]
    assert tree.node(0, 69) == LEAVES[69]
    for level, idx in [(7, 0), (6, 1), (0, 70), (-1, 0), (0, -1)]:
        with pytest.raises(KeyError):
            tree.node(level, idx)
    with pytest.raises(ValueError):
        tree.root(N + 1)
    with pytest.raises(ValueError):
        MemoryTree([b"\x00" * 33])
    assert MemoryTree([]).root() == EMPTY_ROOT


def test_convenience_functions():
    assert inclusion_proof_from_leaves(5, LEAVES[:13]) == PATHS[(5, 13)]
    assert consistency_proof_from_leaves(5, LEAVES[:13]) == PROOFS[(5, 13)]
    assert consistency_proof_from_leaves(0, LEAVES[:13]) == []
    assert consistency_proof_from_leaves(13, LEAVES[:13]) == []


def test_generation_rejects_impossible_requests():
    node = strict_node(LEAVES, 10)
    for index, size in [(10, 10), (-1, 10), (0, 0)]:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, node)
    for old, new in [(11, 10), (-1, 10)]:
        with pytest.raises(ValueError):
            consistency_proof(old, new, node)
    with pytest.raises(ValueError):
        MemoryTree(LEAVES[:10]).consistency_proof(3, 11)


# --------------------------------------------------------------------------------------
# Verification: tampering


def _rejects(fn, *args):
    with pytest.raises(ProofError):
        fn(*args)


def test_tampered_inclusion_proofs_fail_exhaustive():
    for n in range(1, N):
        for i in range(n):
            proof, leaf, root = PATHS[(i, n)], LEAVES[i], ROOTS[n]
            for j in range(len(proof)):  # any hash flipped
                bad = flipped(proof, j)
                _rejects(verify_inclusion, leaf, i, n, bad, root)
            _rejects(verify_inclusion, leaf, i, n, [*proof, LEAVES[0]], root)  # extra
            _rejects(verify_inclusion, leaf, i, n, [LEAVES[0], *proof], root)
            if proof:
                _rejects(verify_inclusion, leaf, i, n, proof[:-1], root)  # missing
                _rejects(verify_inclusion, leaf, i, n, proof[1:], root)
            _rejects(verify_inclusion, flip(leaf), i, n, proof, root)  # other leaf
            _rejects(verify_inclusion, leaf, i, n, proof, flip(root))  # other root
            for j in (i - 1, i + 1):  # wrong index
                if 0 <= j < n:
                    _rejects(verify_inclusion, leaf, j, n, proof, root)
            _rejects(verify_inclusion, leaf, n, n, proof, root)  # index == size
            for s in range(max(i + 1, 1), N):  # wrong size, with that size's root
                if s != n:
                    _rejects(verify_inclusion, leaf, i, s, proof, ROOTS[s])


def test_tampered_consistency_proofs_fail_exhaustive():
    for n in range(2, N):
        for m in range(1, n):
            proof, r1, r2 = PROOFS[(m, n)], ROOTS[m], ROOTS[n]
            for j in range(len(proof)):
                bad = flipped(proof, j)
                _rejects(verify_consistency, m, n, r1, r2, bad)
            _rejects(verify_consistency, m, n, r1, r2, [*proof, LEAVES[0]])
            _rejects(verify_consistency, m, n, r1, r2, [LEAVES[0], *proof])
            _rejects(verify_consistency, m, n, r1, r2, proof[:-1])
            _rejects(verify_consistency, m, n, r1, r2, proof[1:])
            _rejects(verify_consistency, m, n, flip(r1), r2, proof)
            _rejects(verify_consistency, m, n, r1, flip(r2), proof)
            _rejects(verify_consistency, m, n, r2, r1, proof)
            _rejects(verify_consistency, m, n, r1, r2, [])
            _rejects(verify_consistency, n, m, r2, r1, proof)  # sizes swapped
            # wrong sizes, with the honest roots of those sizes
            for m2 in (m - 1, m + 1):
                if 0 < m2 < n:
                    _rejects(verify_consistency, m2, n, ROOTS[m2], r2, proof)
            for n2 in (n - 1, n + 1):
                if m < n2 < N:
                    _rejects(verify_consistency, m, n2, r1, ROOTS[n2], proof)


def test_edge_cases_of_verification():
    r = ROOTS
    # size 0 / equal sizes
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, r[5], [])
    verify_consistency(5, 5, r[5], r[5], [])
    _rejects(
        verify_consistency, 0, 5, EMPTY_ROOT, r[5], [r[1]]
    )  # size1 == 0, non-empty
    _rejects(verify_consistency, 0, 5, r[1], r[5], [])  # not the empty root
    _rejects(verify_consistency, 5, 5, r[5], r[5], [r[1]])
    _rejects(verify_consistency, 5, 5, r[5], r[4], [])
    _rejects(verify_consistency, 6, 5, r[6], r[5], [])  # size1 > size2
    _rejects(verify_consistency, -1, 5, r[1], r[5], [])
    _rejects(verify_consistency, True, 5, r[1], r[5], PROOFS[(1, 5)])
    _rejects(verify_consistency, 2, 5, r[2], r[5], [b"\x00" * 31, r[0]])
    _rejects(verify_consistency, 2, 5, r[2][:31], r[5], PROOFS[(2, 5)])
    # inclusion
    _rejects(verify_inclusion, LEAVES[0], 0, 0, [], EMPTY_ROOT)
    _rejects(verify_inclusion, LEAVES[0], -1, 3, PATHS[(0, 3)], r[3])
    _rejects(verify_inclusion, LEAVES[0], 0, 3, PATHS[(0, 3)], "not bytes")
    _rejects(verify_inclusion, LEAVES[0][:31], 0, 3, PATHS[(0, 3)], r[3])
    _rejects(verify_inclusion, LEAVES[0], 0, 2**64, PATHS[(0, 3)], r[3])
    _rejects(verify_inclusion, LEAVES[0], 0, 3, [PATHS[(0, 3)][0], "x" * 32], r[3])
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    _rejects(verify_inclusion, LEAVES[0], 0, 1, [LEAVES[1]], LEAVES[0])
    # bytearray / memoryview accepted
    verify_inclusion(
        bytearray(LEAVES[2]),
        2,
        5,
        [memoryview(h) for h in PATHS[(2, 5)]],
        bytearray(r[5]),
    )


def test_error_messages_are_specific():
    proof = PATHS[(3, 12)]
    with pytest.raises(ProofError) as e:
        verify_inclusion(LEAVES[3], 3, 12, [*proof, LEAVES[0]], ROOTS[12])
    assert (
        e.value.reason
        == "inclusion proof has 5 hashes, expected 4 for index 3 in tree of size 12"
    )
    with pytest.raises(ProofError) as e:
        verify_inclusion(LEAVES[3], 3, 12, proof, ROOTS[11])
    assert e.value.reason.startswith(f"computed root {ROOTS[12].hex()[:12]}… != ")
    assert ROOTS[11].hex()[:12] in e.value.reason
    with pytest.raises(ProofError) as e:
        verify_consistency(5, 12, ROOTS[5], ROOTS[12], PROOFS[(5, 12)][:-1])
    assert "consistency proof has" in e.value.reason and "expected" in e.value.reason
    with pytest.raises(ProofError) as e:
        verify_inclusion(LEAVES[3], 12, 12, proof, ROOTS[12])
    assert "index 12" in str(e.value)
    # ProofError is an IntegrityError: the CLI exits 1
    assert isinstance(e.value, IntegrityError) and e.value.exit_code == 1


# --------------------------------------------------------------------------------------
# The size/root ambiguity (ledger-notes 1.1): documented, not a bug in the verifier.


def test_consistency_proof_does_not_bind_size_to_root():
    """The honest 1→3 proof also passes as 1→4 with root R3, at the pure-proof level.

    Nothing in the proof authenticates the sizes: they (and the roots) must come
    from a verified signed checkpoint. A witness holding (3, R3) still catches
    the bogus (4, R3): no proof from 3 to 4 can lead to R3.
    """
    proof_1_3 = PROOFS[(1, 3)]
    verify_consistency(1, 3, ROOTS[1], ROOTS[3], proof_1_3)
    verify_consistency(1, 4, ROOTS[1], ROOTS[3], proof_1_3)  # accepted: the ambiguity
    _rejects(
        verify_consistency, 1, 4, ROOTS[1], ROOTS[4], proof_1_3
    )  # with R4: rejected
    _rejects(verify_consistency, 3, 4, ROOTS[3], ROOTS[3], PROOFS[(3, 4)])
    for bogus_proof in ([ROOTS[3]], [LEAVES[3]], [EMPTY_ROOT]):
        _rejects(verify_consistency, 3, 4, ROOTS[3], ROOTS[3], bogus_proof)
    assert "signed checkpoint" in verify_consistency.__doc__


def test_ambiguity_is_common_and_also_affects_inclusion():
    consistency_pairs = [
        (m, n, n2)
        for (m, n), proof in PROOFS.items()
        if n < 40
        for n2 in range(n + 1, 40)
        if _accepts(verify_consistency, m, n2, ROOTS[m], ROOTS[n], proof)
    ]
    assert (1, 3, 4) in consistency_pairs
    assert len(consistency_pairs) > 100
    # Inclusion proofs have the same property: leaf 0's proof in the tree of
    # size 3 also "proves" it in a tree of size 4 whose root is R3.
    verify_inclusion(LEAVES[0], 0, 4, PATHS[(0, 3)], ROOTS[3])


def _accepts(fn, *args) -> bool:
    try:
        fn(*args)
    except ProofError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Property test on larger trees


BIG = make_leaves(3000, "big")
BIG_TREE = MemoryTree(BIG)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=3000))
def test_random_sizes_property(data, n):
    leaves = BIG[:n]
    root = BIG_TREE.root(n)
    frontier = Frontier()
    frontier.extend(leaves)
    assert frontier.root() == root == root_from_leaf_hashes(leaves)
    assert Frontier.from_bytes(n, frontier.to_bytes()).root() == root

    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    proof = inclusion_proof(i, n, strict_node(BIG, n))
    assert proof == BIG_TREE.inclusion_proof(i, n) == ref_path(i, leaves)
    verify_inclusion(BIG[i], i, n, proof, root)
    if proof:
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="flip")
        _rejects(
            verify_inclusion,
            BIG[i],
            i,
            n,
            flipped(proof, j),
            root,
        )

    m = data.draw(st.integers(min_value=0, max_value=n), label="old size")
    cproof = consistency_proof(m, n, strict_node(BIG, n))
    assert cproof == BIG_TREE.consistency_proof(m, n)
    if 0 < m < n:
        assert cproof == ref_proof(m, leaves)
    old_root = BIG_TREE.root(m)
    verify_consistency(m, n, old_root, root, cproof)
    if cproof:
        j = data.draw(
            st.integers(min_value=0, max_value=len(cproof) - 1), label="cflip"
        )
        bad = flipped(cproof, j)
        _rejects(verify_consistency, m, n, old_root, root, bad)
