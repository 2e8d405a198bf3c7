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


def test_a_receipt_kept_without_a_checkpoint_is_proven_later(ledger: Ledger, keys, run_cli, db_url) -> None:
    import base64
    import json

    import sqlalchemy as sa

    from ledger.checkpoints import receipts
    from ledger.merkle import verify_consistency

    (first,) = ledger.append(docs(eval_record(suite="kept")), signing_key=keys.pipeline)
    receipt = receipts(ledger.engine, [first])  # what the pipeline kept: no checkpoint
    for i in range(7):
        ledger.append(docs(eval_record(suite=f"later-{i}")), signing_key=keys.pipeline)
    r = run_cli("proof", "consistency", "--from", str(receipt["tree_size"]), "--json", db=db_url)
    assert r.exit_code == 0, r.output
    c = json.loads(r.stdout)
    assert c["old_root"] == receipt["root"] and c["new_size"] == ledger.head().size
    b64 = [base64.b64decode(h) for h in c["proof_base64"]]  # the form C2SP tools take
    verify_consistency(c["old_size"], c["new_size"], base64.b64decode(c["old_root_base64"]),
                       base64.b64decode(c["new_root_base64"]), b64)
    r = run_cli("proof", "inclusion", str(first.seq), "--json", db=db_url)
    p = json.loads(r.stdout)
    verify_inclusion(base64.b64decode(p["leaf_hash_base64"]), first.seq, p["tree_size"],
                     [base64.b64decode(h) for h in p["proof_base64"]], base64.b64decode(p["root_base64"]))
    assert p["root"] == c["new_root"]
    r = run_cli("proof", "inclusion", "9999", db=db_url)
    assert r.exit_code == 2 and "is not in a tree of" in r.stderr
    r = run_cli("proof", "consistency", "--from", "5", "--to", "3", db=db_url)
    assert r.exit_code == 2 and "--from 5 is after --to 3" in r.stderr
    with ledger.engine.begin() as conn:  # a stored node altered: no proof is printed
        conn.execute(sa.text("UPDATE tree_node SET hash = :h"), {"h": bytes(32)})
    r = run_cli("proof", "inclusion", str(first.seq), db=db_url)
    assert r.exit_code == 1 and "give no valid proof" in r.stderr


def test_proofs_made_by_the_append_equal_proofs_from_the_stored_tree(ledger: Ledger, keys) -> None:
    # Batches of 1, 2, 3, 5, 8, 13 and 1 cross power-of-two sizes and land at every frontier shape.
    for b, size in enumerate((1, 2, 3, 5, 8, 13, 1)):
        out = ledger.append(docs(*(eval_record(suite=f"p{b}-{i}") for i in range(size))), signing_key=keys.pipeline,
                            prove=True)
        with read_transaction(ledger.engine) as conn:
            head = read_head(conn)
            assert head is not None
            for a in out:
                assert a.tree is not None and a.proof is not None
                assert (a.tree.size, a.tree.root, a.tree.origin) == (head.size, head.root, head.origin)
                assert list(a.proof) == inclusion_proof(a.seq, head.size, node_reader(conn))
                verify_inclusion(leaf_hash(a.leaf), a.seq, head.size, list(a.proof), head.root)
    assert ledger.append(docs(eval_record(suite="plain")), signing_key=keys.pipeline)[0].proof is None


def test_proofs_of_many_entries_at_once_equal_one_by_one_and_refuse_an_altered_node(ledger: Ledger, keys) -> None:
    """What ``assure export oscal`` proves: every record of a system, one tree, one read."""
    import pytest
    import sqlalchemy as sa

    from ledger.errors import InputError, IntegrityError
    from ledger.proofs import prove_inclusion, prove_inclusions

    for b in range(3):
        ledger.append(docs(*(eval_record(suite=f"s{b}-{i}") for i in range(41))), signing_key=keys.pipeline)
    size = ledger.head().size
    seqs = [0, 1, 7, 64, 65, size - 1, 7, 100]  # scattered, one twice, out of order
    for tree in (None, 101, size - 3):
        want = [prove_inclusion(ledger.engine, s, size=tree) for s in seqs if s < (tree or size)]
        assert prove_inclusions(ledger.engine, [s for s in seqs if s < (tree or size)], size=tree) == want
    with pytest.raises(InputError, match=f"entry {size} is not in a tree of {size} entries"):
        prove_inclusions(ledger.engine, [3, size])
    with ledger.engine.begin() as conn:  # the subtree of leaves 64..67, a sibling on 68..71's paths: altered
        conn.execute(sa.text("UPDATE tree_node SET hash = :h WHERE level = 2 AND idx = 16"), {"h": bytes(32)})
    with pytest.raises(IntegrityError, match="give no valid proof") as e:
        prove_inclusions(ledger.engine, [3, 65, 70, 71])  # no proofs at all
    assert e.value.seq == 70
