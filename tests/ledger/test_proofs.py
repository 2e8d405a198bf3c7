"""Inclusion proofs from the stored tree: prefetching a batch's audit paths changes nothing but speed."""

from __future__ import annotations

from ledger.db import read_transaction
from ledger.merkle import inclusion_proof, leaf_hash, verify_inclusion
from ledger.store import Ledger, node_reader, read_head
from tests.conftest import docs, eval_record


def test_prefetched_proofs_equal_proofs_read_node_by_node(ledger: Ledger, keys) -> None:
    for b in range(3):
        ledger.append(docs(*(eval_record(suite=f"s{b}-{i}") for i in range(97))), signing_key=keys.pipeline)
    with read_transaction(ledger.engine) as conn:
        head = read_head(conn)
        assert head is not None
        for lo, hi in ((0, 1), (5, 102), (100, 197), (head.size - 50, head.size), (37, 38)):
            plain, warm = node_reader(conn), node_reader(conn, around=(lo, hi))
            for seq in range(lo, hi):
                proof = inclusion_proof(seq, head.size, warm)
                assert proof == inclusion_proof(seq, head.size, plain)
                verify_inclusion(leaf_hash(ledger.get(seq).leaf), seq, head.size, proof, head.root)
