"""Where a full verify's time per entry goes: each of its checks timed alone, against the floor.

``bench_verify`` measures verify as a whole against its floor (one process per core
that only reads each entry and its payload, hashes the payload, builds the PAE and
verifies one signature). This benchmark splits verify's work per entry into its
parts and times each alone, in one process, on a window of the same cached ledger
(``--window`` entries, default 20,000, from 55% of the way in, after the key
events), best of three:

* the floor's own work per entry (``bench_verify``'s floor worker on the window);
* each part of verify, with the library's own functions (the ones ``assure verify``
  runs): the row read, the stored-entry checks, the payload's strict parse, the
  signers' standing, the signature, the record rules, the cross-entry facts, the
  reader's chain, clock and Merkle steps, the derived rows, their comparison with
  the stored ones, and handing rows to a worker (pickling there and back);
* each extra check in its least possible form: the one C call it cannot do
  without (one regular-expression match of the leaf, one SHA-256, one JSON scan,
  the stored derived rows fetched), which bounds what any Python rewrite reaches.

It prints microseconds per entry for each, and the ratio to the floor each total
allows with every core busy and nothing else in the way: floor / total. Not a test.

Usage::

    python -m bench bench_verify_parts        # N from $BENCH_VERIFY_N (default 1,000,000)
    python -m bench.bench_verify_parts --n 100000 [--window 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_verify import ADMIN, CI1, CI2, FORMAT, _floor_worker, build
from ledger.db import make_engine
from ledger.dsse import pae
from ledger.entry import _LEAF_RE, entry_hash, parse_leaf
from ledger.head import node_reader
from ledger.keys import verify_signature
from ledger.merkle import Frontier, leaf_hash
from ledger.reindex import (
    _PER_SEQ,
    DerivedCheck,
    _Deriver,
    _driver_rows,
    _Window,
)
from ledger.verify import _SCAN, _check_payload_kind, _EntryChecks, _Verifier
from ledger.verify_rules import ChunkFacts, entry_rule_failure

_ROWS = ("SELECT e.seq, e.entry_hash, e.prev_hash, e.leaf, e.payload_sha256, e.idem_key, p.payload_type, p.body "
         "FROM entry e LEFT JOIN payload p ON p.sha256 = e.payload_sha256 WHERE e.seq >= ? AND e.seq < ? "
         "ORDER BY e.seq")
_KEY_EVENTS = ("SELECT e.seq, e.entry_hash, e.leaf, p.body FROM entry e JOIN payload p ON p.sha256 = "
               "e.payload_sha256 WHERE e.seq < ? AND (e.seq = 0 OR instr(e.leaf, CAST('\"kind\":\"key.' AS BLOB)) > 0) ORDER BY e.seq")


def _best(fn: Callable[[], Any], n: int, rounds: int = 3) -> float:
    """Microseconds per entry of ``fn`` over ``n`` entries, best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


def _frontier_at(conn: Any, size: int) -> Frontier:
    """The Merkle frontier of the first ``size`` leaves, from the stored tree nodes."""
    read, hashes, start = node_reader(conn), [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            hashes.append(read(level, start >> level))
            start += 1 << level
    return Frontier(size, hashes)


class Parts:
    """Verify's per-entry work on entries ``lo .. hi-1``, each part callable alone."""

    def __init__(self, url: str, path: str, lo: int, hi: int) -> None:
        self.path, self.lo, self.hi, self.n = path, lo, hi, hi - lo
        self.engine = make_engine(url)
        self.conn = self.engine.connect()
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.rows = [tuple(r) for r in self.db.execute(_ROWS, (lo, hi))]
        assert all(b'"kind":"key.' not in r[3] for r in self.rows), "the window holds a key event"
        self.derived = DerivedCheck(self.conn)
        for seq, ehash, leaf, body in self.db.execute(_KEY_EVENTS, (lo,)):  # the registry as of lo
            self.derived.deriver.entry(_Window(0, 0), seq, ehash, leaf, body, nodes=[])
        self.registry = self.derived.deriver.registry
        self.origin = parse_leaf(self.rows[0][3]).origin
        self.checks = _EntryChecks(self.origin, self.registry)
        self.leaves = [self.checks.stored(r) for r in self.rows]
        self.objs = [_check_payload_kind(r[7], leaf.kind, r[0]) for r, (leaf, _) in zip(self.rows, self.leaves)]
        self.nodes = self._merkle()
        self.window = self._derive()

    # ------------------------------------------------------------ the floor

    def floor(self) -> None:
        keys = {k.public.key_id.encode(): k.public.raw for k in (ADMIN, CI1, CI2)}
        assert _floor_worker(self.path, self.lo, self.hi, keys) == self.n

    # ------------------------------------------------------------ verify, as it runs

    def read(self) -> None:
        list(self.db.execute(_ROWS, (self.lo, self.hi)))

    def stored(self) -> None:
        checks = _EntryChecks(self.origin, self.registry)
        for row in self.rows:
            checks.stored(row)

    def payload(self) -> None:
        for row, (leaf, _) in zip(self.rows, self.leaves, strict=True):
            _check_payload_kind(row[7], leaf.kind, row[0])

    def signers(self) -> None:
        checks = _EntryChecks(self.origin, self.registry)
        for row, (leaf, at), obj in zip(self.rows, self.leaves, self.objs, strict=True):
            for sig in leaf.signatures:
                checks.signer(sig.keyid, leaf.kind, at, row[0], obj.get("system"))

    def signature(self) -> None:
        checks = _EntryChecks(self.origin, self.registry)
        for row, (leaf, at), obj in zip(self.rows, self.leaves, self.objs, strict=True):
            key = checks.signer(leaf.signatures[0].keyid, leaf.kind, at, row[0], obj.get("system"))
            assert verify_signature(key.public_key, pae(leaf.payload_type, row[7]), leaf.signatures[0].sig)

    def rules(self) -> None:
        for (_, at), obj in zip(self.leaves, self.objs, strict=True):
            entry_rule_failure(obj, at, max_skew=dt.timedelta(minutes=5))

    def facts(self) -> None:
        facts = ChunkFacts()
        for row, (leaf, _), obj in zip(self.rows, self.leaves, self.objs, strict=True):
            facts.add(row[0], leaf.kind, obj, [s.keyid for s in leaf.signatures], row[1])

    def sequence(self) -> None:
        """The reader's own steps: contiguous seq, clock, chain and Merkle frontier."""
        verifier = _Verifier.__new__(_Verifier)
        verifier.received, verifier.prev = None, self.rows[0][2]
        frontier, expected = _frontier_at(self.conn, self.lo), self.lo
        for row in self.rows:
            assert row[0] == expected and row[2] == verifier.prev
            verifier._check_clock(row[0], row[3])
            verifier.prev, expected = row[1], expected + 1
            frontier.append(leaf_hash(row[3]))

    def _merkle(self) -> list[list[tuple[int, int, bytes]]]:
        frontier = _frontier_at(self.conn, self.lo)
        return [frontier.append(leaf_hash(row[3])) for row in self.rows]

    def _derive(self) -> _Window:
        """The window's derived rows, by a deriver as of ``lo`` (a fresh one each time)."""
        window = _Window(self.lo, self.hi)
        deriver = _Deriver()
        deriver.registry = self.registry.copy()
        for row, nodes in zip(self.rows, self.nodes, strict=True):
            deriver.entry(window, row[0], row[1], row[3], row[7], nodes)
        return window

    def derive(self) -> None:
        self._derive()

    def compare(self) -> None:
        """The derived rows against the stored ones, as ``DerivedCheck`` does it, a window at a time."""
        check = DerivedCheck.__new__(DerivedCheck)
        check.window, check.entries, check.counts = self.window, self.hi, dict.fromkeys((*_PER_SEQ, "tree_node"), 0)
        assert not list(check._compare_window(self.conn))

    def handoff(self) -> None:
        """Rows (and the registry as of the chunk) pickled to a worker and unpickled there, chunk
        by chunk, and the facts back; not the pipe between the processes."""
        for i in range(0, self.n, 1_000):
            sent = (self.origin, self.registry, self.rows[i : i + 1_000])
            pickle.loads(pickle.dumps(sent, pickle.HIGHEST_PROTOCOL))
        facts = ChunkFacts()
        for row, (leaf, _), obj in zip(self.rows[:1_000], self.leaves, self.objs, strict=False):
            facts.add(row[0], leaf.kind, obj, [s.keyid for s in leaf.signatures], row[1])
        for _ in range(0, self.n, 1_000):
            pickle.loads(pickle.dumps(facts, pickle.HIGHEST_PROTOCOL))

    # ------------------------------------------------------------ the least each extra check needs

    def least_leaf(self) -> None:
        for row in self.rows:
            _LEAF_RE.fullmatch(row[3].decode())

    def least_hashes(self) -> None:
        """entry_hash, the idempotency key's SHA-256, the Merkle leaf hash and one node hash."""
        sha = hashlib.sha256
        for row, (leaf, _) in zip(self.rows, self.leaves, strict=True):
            entry_hash(row[2], row[3])
            sha(f"assure/idem/v1\n{row[4]}\n{leaf.signatures[0].keyid}".encode()).digest()
            sha(b"\x00" + row[3]).digest()
            sha(b"\x01" + row[1] + row[1]).digest()

    def least_payload(self) -> None:
        for row in self.rows:
            _SCAN(row[7].decode(), 0)

    def least_stored_rows(self) -> None:
        for table in _PER_SEQ:
            _driver_rows(self.conn, f"SELECT * FROM {table} WHERE seq >= {{0}} AND seq < {{0}}", (self.lo, self.hi))

    def close(self) -> None:
        self.db.close()
        self.conn.close()
        self.engine.dispose()


VERIFY = [
    ("read the entry and payload rows", "read", True),
    ("stored-entry checks (leaf parse, seq, origin, entry_hash, idem_key, payload SHA-256, type, time)",
     "stored", False),
    ("payload's strict JSON parse and kind", "payload", False),
    ("signers' standing (registry, memoized per batch)", "signers", False),
    ("PAE and Ed25519 signature", "signature", True),
    ("record rules (append's own) and observed_at", "rules", False),
    ("cross-entry facts (systems, versions, scopes, references)", "facts", False),
    ("reader: seq, clock, chain, Merkle frontier", "sequence", False),
    ("derived rows (record, record_control, entry_signer, tree nodes)", "derive", False),
    ("derived rows compared with the stored ones", "compare", False),
    ("rows to a worker and facts back (pickle both ways)", "handoff", False),
]
LEAST = [
    ("leaf: one regular-expression match", "least_leaf"),
    ("entry_hash, idem_key, leaf and node hashes: four SHA-256", "least_hashes"),
    ("payload: one JSON scan", "least_payload"),
    ("derived rows: the stored rows fetched", "least_stored_rows"),
]


def _ledger_path(args: argparse.Namespace) -> Path:
    path = Path(args.cache_dir) / f"verify-v{FORMAT}-{args.n}.db"
    if not path.exists():
        Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
        print(f"building a ledger of {args.n:,} entries at {path} (kept for later runs)", file=sys.stderr)
        build(f"sqlite:///{path}", args.n, workers=os.cpu_count() or 1)
    return path


def main(argv: list[str] | None = None) -> None:
    """Time each part of verify on a window of the cached ledger and print them against the floor."""
    p = argparse.ArgumentParser(prog="bench_verify_parts", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=int(os.environ.get("BENCH_VERIFY_N", "1000000")))
    p.add_argument("--window", type=int, default=20_000)
    p.add_argument("--cache-dir", default=os.environ.get("BENCH_DIR", "/tmp/assure-bench"))
    args = p.parse_args(argv if argv is not None else [])
    path = _ledger_path(args)
    lo = int(args.n * 0.55)
    parts = Parts(f"sqlite:///{path}", str(path), lo, lo + args.window)
    try:
        floor = _best(parts.floor, parts.n)
        print(f"window: entries {lo:,}..{lo + args.window - 1:,} of {path.name}; microseconds per entry, "
              "one process, best of 3")
        print(f"floor (read, payload SHA-256, PAE, one Ed25519 verify): {floor:6.1f}")
        total = least = 0.0
        for label, name, in_floor in VERIFY:
            us = _best(getattr(parts, name), parts.n)
            total += us
            print(f"  {us:6.1f}  {label}{' (the floor does this too)' if in_floor else ''}")
        print(f"verify, sum of its parts: {total:6.1f} = floor + {total - floor:.1f}; "
              f"with every core busy and nothing else in the way it reaches {floor / total:.2f} of the floor")
        for label, name in LEAST:
            us = _best(getattr(parts, name), parts.n)
            least += us
            print(f"  {us:6.1f}  {label}")
        print(f"the extra checks in their least possible form: {least:.1f}; no Python verifier making them "
              f"passes {floor / (floor + least):.2f} of the floor")
    finally:
        parts.close()


if __name__ == "__main__":
    main(sys.argv[1:])
