"""``assure verify``: recompute the whole ledger from stored bytes.

For every entry, in sequence order, with constant memory:

* the sequence is contiguous from 0 and the leaf names this ledger's origin and
  the entry's own seq;
* the leaf is canonical, ``entry_hash`` and ``prev_hash`` recompute, and the
  ``idem_key`` column matches the leaf;
* the payload's SHA-256 matches the leaf and every DSSE signature verifies
  against the key registry *as of that entry* (trusted, unrevoked, inside its
  validity window, role allowed for the kind), the registry being rebuilt by
  replaying key events as they come;
* the RFC 9162 Merkle root is recomputed and compared with the head and with
  every stored signed checkpoint; with ``against`` an external checkpoint (one
  kept outside the database) must be a prefix of this ledger, which catches
  truncation, rollback and rewritten history.

The first failure is reported with its seq and reason. Signature checks run in
worker processes for large ledgers (they dominate the cost); everything else
streams in the main process. Nothing here trusts the projections or the tree
node table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from ledger import models as m
from ledger.canonical import CanonicalError, parse_json
from ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint, parse_note
from ledger.dsse import pae
from ledger.entry import GENESIS_PREV_HASH, Leaf, entry_hash, idempotency_key
from ledger.errors import IntegrityError, LedgerStateError
from ledger.keys import PublicKey, verify_signature
from ledger.merkle import Frontier, ProofError, consistency_proof, leaf_hash, verify_consistency
from ledger.records import KEY_KINDS, parse_record
from ledger.registry import Registry, SignerError
from ledger.store import apply_key_event, node_reader, read_head
from ledger.timeutil import parse_timestamp

CHUNK = 2_000
PARALLEL_THRESHOLD = 20_000

SigTask = tuple[int, bytes, bytes, bytes]  # seq, public key, message, signature


@dataclass
class VerifyReport:
    """The outcome of a full verification."""

    origin: str
    size: int = 0
    root: bytes = b""
    signatures: int = 0
    checkpoints: int = 0
    against: Checkpoint | None = None
    failure: IntegrityError | None = None
    registry: Registry = field(default_factory=Registry)

    @property
    def ok(self) -> bool:
        """True if nothing failed."""
        return self.failure is None

    def __bool__(self) -> bool:
        return self.ok

    def to_json(self) -> dict[str, Any]:
        """A JSON summary for ``--json``."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "origin": self.origin,
            "entries": self.size,
            "root": self.root.hex(),
            "signatures_verified": self.signatures,
            "checkpoints_verified": self.checkpoints,
        }
        if self.against is not None:
            out["against"] = {"size": self.against.size, "root": self.against.root.hex()}
        if self.failure is not None:
            out["failure"] = {"seq": self.failure.seq, "reason": self.failure.reason}
        return out


def _verify_sig_chunk(tasks: list[SigTask]) -> int | None:
    """Return the seq of the first signature that fails in ``tasks``, or None."""
    for seq, pub, msg, sig in tasks:
        if not verify_signature(pub, msg, sig):
            return seq
    return None


class _Fail(Exception):
    def __init__(self, seq: int | None, reason: str) -> None:
        self.seq, self.reason = seq, reason


def verify_ledger(
    engine: Engine,
    *,
    against_note: str | None = None,
    against_keys: list[PublicKey] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Verify every entry, the head, stored checkpoints and optionally an external one.

    Args:
        engine: the ledger database.
        against_note: a signed checkpoint note kept outside the database.
        against_keys: keys that may have signed ``against_note``; default: every
            admin key the ledger ever trusted (pin one out of band for real audits).
        workers: signature-checking processes (default: CPU count; 1 = in-process).
        progress: called with (entries done, total) after each chunk.

    Returns:
        A report; ``report.failure`` names the first bad seq and why.

    Raises:
        LedgerStateError: if the ledger is not initialised.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return verify_connection(
                conn, against_note=against_note, against_keys=against_keys,
                workers=workers, progress=progress,
            )


def verify_connection(
    conn: Connection,
    *,
    against_note: str | None = None,
    against_keys: list[PublicKey] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """:func:`verify_ledger` inside a transaction the caller holds (one snapshot)."""
    head = read_head(conn)
    if head is None:
        raise LedgerStateError("the ledger is not initialised: run 'assure init'")
    report = VerifyReport(origin=head.origin)
    stored_cps = list(conn.execute(select(m.Checkpoint.size, m.Checkpoint.note)))
    rows = conn.execute(
        select(
            m.Entry.seq, m.Entry.entry_hash, m.Entry.prev_hash, m.Entry.leaf,  # type: ignore[call-overload]
            m.Entry.payload_sha256, m.Entry.idem_key, m.Payload.payload_type, m.Payload.body,
        )
        .outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .order_by(m.Entry.seq)
        .execution_options(yield_per=CHUNK)
    )
    against_size = _unverified_size(against_note)
    verifier = _Verifier(report, head, stored_cps, workers, progress, against_size)
    try:
        verifier.run(rows)
        _check_against(report, conn, verifier, against_note, against_keys)
    except _Fail as f:
        report.failure = IntegrityError(f.reason, seq=f.seq)
    finally:
        rows.close()
    return report


class _Verifier:
    def __init__(self, report, head, stored_cps, workers, progress, against_size) -> None:  # type: ignore[no-untyped-def]
        self.report = report
        self.head = head
        self.cp_sizes = {size: note for size, note in stored_cps}
        self.watch = set(self.cp_sizes) | ({against_size} if against_size else set())
        self.cp_roots: dict[int, bytes] = {}
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.progress = progress
        self.registry = report.registry
        self.frontier = Frontier()
        self.prev = GENESIS_PREV_HASH
        self.expected = 0

    def run(self, rows: Any) -> None:
        pool = None
        pending: list[tuple[Future[int | None], int]] = []
        first_bad: int | None = None
        fail: _Fail | None = None
        try:
            chunk: list[SigTask] = []
            for row in rows:
                try:
                    chunk.extend(self._entry(*row))
                except _Fail as f:
                    fail = f
                    break
                if len(chunk) >= CHUNK:
                    if pool is None and self.workers > 1 and self.head.size >= PARALLEL_THRESHOLD:
                        pool = ProcessPoolExecutor(self.workers)
                    pending.append(self._submit(pool, chunk))
                    chunk = []
                    first_bad = self._drain(pending, first_bad, block=len(pending) > 2 * self.workers)
                    if first_bad is not None:
                        break
                    if self.progress:
                        self.progress(self.expected, self.head.size)
            if chunk and first_bad is None:
                pending.append(self._submit(pool, chunk))
            first_bad = self._drain(pending, first_bad, block=True)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        if first_bad is not None and (fail is None or fail.seq is None or first_bad < fail.seq):
            raise _Fail(first_bad, "signature does not verify (payload or signature altered)")
        if fail is not None:
            raise fail
        self._finish()
        if self.progress:
            self.progress(self.expected, self.head.size)

    def _submit(self, pool: ProcessPoolExecutor | None, chunk: list[SigTask]) -> tuple[Future[int | None], int]:
        self.report.signatures += len(chunk)
        if pool is None:
            fut: Future[int | None] = Future()
            fut.set_result(_verify_sig_chunk(chunk))
            return fut, chunk[0][0]
        return pool.submit(_verify_sig_chunk, chunk), chunk[0][0]

    @staticmethod
    def _drain(pending: list[tuple[Future[int | None], int]], first_bad: int | None, *, block: bool) -> int | None:
        while pending and (block or pending[0][0].done()):
            fut, _ = pending.pop(0)
            bad = fut.result()
            if bad is not None and (first_bad is None or bad < first_bad):
                first_bad = bad
                for f, _ in pending:
                    f.cancel()
                pending.clear()
        return first_bad

    def _entry(
        self, seq: int, ehash: bytes, prev: bytes, leaf_bytes: bytes, payload_sha: str, idem: str,
        ptype: str | None, body: bytes | None,
    ) -> list[SigTask]:
        exp = self.expected
        if seq != exp:
            raise _Fail(exp, f"entry {exp} is missing (the next stored entry is {seq})"
                        if seq > exp else f"sequence goes backwards ({seq} after {exp - 1})")
        try:
            leaf = Leaf.from_bytes(leaf_bytes)
        except ValueError as e:
            raise _Fail(seq, f"leaf is malformed: {e}") from e
        if leaf.seq != seq:
            raise _Fail(seq, f"leaf says seq {leaf.seq} but is stored at {seq} (entries swapped or moved)")
        if leaf.origin != self.head.origin:
            raise _Fail(seq, f"leaf origin {leaf.origin!r} is not this ledger's {self.head.origin!r}")
        if prev != self.prev:
            raise _Fail(seq, "prev_hash does not match the hash of the previous entry")
        if entry_hash(prev, leaf_bytes) != ehash:
            raise _Fail(seq, "entry_hash does not match the entry's contents")
        if idem != leaf.idem_key or leaf.idem_key != idempotency_key(
            leaf.payload_sha256, [s.keyid for s in leaf.signatures]
        ):
            raise _Fail(seq, "idem_key column does not match the leaf")
        if payload_sha != leaf.payload_sha256:
            raise _Fail(seq, "payload_sha256 column does not match the leaf")
        if body is None:
            raise _Fail(seq, "payload is missing")
        if hashlib.sha256(body).hexdigest() != leaf.payload_sha256:
            raise _Fail(seq, "payload bytes do not match the leaf's payload_sha256")
        if ptype != leaf.payload_type:
            raise _Fail(seq, "payload type does not match the leaf")
        at = self._received_at(leaf, seq)
        record = self._payload_record(leaf, body, seq)
        tasks = self._signature_tasks(leaf, body, seq, at, record)
        self.prev = ehash
        self.frontier.append(leaf_hash(leaf_bytes))
        self.expected += 1
        if self.frontier.size in self.watch:
            self.cp_roots[self.frontier.size] = self.frontier.root()
        return tasks

    @staticmethod
    def _received_at(leaf: Leaf, seq: int) -> dt.datetime:
        try:
            return parse_timestamp(leaf.received_at)
        except ValueError as e:
            raise _Fail(seq, f"leaf received_at is invalid: {e}") from e

    @staticmethod
    def _payload_record(leaf: Leaf, body: bytes, seq: int) -> Any:
        if leaf.kind not in KEY_KINDS and seq != 0:
            # Only the kind matters here; full validation happened at append and the
            # payload is bound by its hash and signature.
            try:
                kind = parse_json(body).get("kind")
            except (CanonicalError, AttributeError) as e:
                raise _Fail(seq, f"payload is not a JSON record: {e}") from e
            if kind != leaf.kind:
                raise _Fail(seq, f"payload kind {kind!r} does not match the leaf kind {leaf.kind!r}")
            return None
        try:
            return parse_record(parse_json(body), source=f"entry {seq}")
        except Exception as e:  # noqa: BLE001 - any parse failure is an integrity failure here
            raise _Fail(seq, f"key event payload is invalid: {e}") from e

    def _signature_tasks(self, leaf: Leaf, body: bytes, seq: int, at: dt.datetime, record: Any) -> list[SigTask]:
        if not leaf.signatures:
            raise _Fail(seq, "entry has no signatures")
        msg = pae(leaf.payload_type, body)
        if seq == 0:
            if record is None or record.kind != "key.trust" or record.role != "admin":
                raise _Fail(0, "entry 0 must be the genesis key.trust of an admin key")
            self._apply(record, seq, at)
        tasks = []
        for sig in leaf.signatures:
            try:
                key = self.registry.check_signer(sig.keyid, kind=leaf.kind, at=at)
            except SignerError as e:
                raise _Fail(seq, f"signer not allowed at this entry: {e}") from e
            tasks.append((seq, key.public_key, msg, sig.sig))
        if seq != 0 and record is not None:
            self._apply(record, seq, at)
        return tasks

    def _apply(self, record: Any, seq: int, at: dt.datetime) -> None:
        try:
            apply_key_event(self.registry, record, seq=seq, at=at)
        except SignerError as e:
            raise _Fail(seq, f"invalid key event: {e}") from e

    def _finish(self) -> None:
        head, n = self.head, self.expected
        if n != head.size:
            if n < head.size:
                raise _Fail(n, f"the head says {head.size} entries but only {n} are stored (tail deleted)")
            raise _Fail(head.size, f"{n} entries are stored but the head says {head.size}")
        root = self.frontier.root()
        if self.prev != head.last_hash:
            raise _Fail(n - 1 if n else None, "the head's last hash does not match the last entry")
        if root != head.root or self.frontier != head.frontier:
            raise _Fail(None, "the head's Merkle root does not match the recomputed tree")
        self.report.size, self.report.root = n, root
        for size, note in sorted(self.cp_sizes.items()):
            self._check_stored_checkpoint(size, note)

    def _check_stored_checkpoint(self, size: int, note: str) -> None:
        if size > self.expected:
            raise _Fail(self.expected, f"a signed checkpoint covers {size} entries but only "
                        f"{self.expected} are stored (truncated below a checkpoint)")
        keys = admin_note_keys(self.registry, self.head.origin)
        try:
            cp = open_checkpoint(note, origin=self.head.origin, keys=keys)
        except CheckpointError as e:
            raise _Fail(None, f"stored checkpoint at size {size}: {e}") from e
        if cp.size != size:
            raise _Fail(None, f"stored checkpoint row says size {size} but its note says {cp.size}")
        if cp.root != self.cp_roots.get(size, self.frontier.root() if size == self.expected else b""):
            raise _Fail(None, f"signed checkpoint at size {size} does not match the recomputed "
                        "tree (history rewritten)")
        self.report.checkpoints += 1


def admin_note_keys(registry: Registry, origin: str) -> list[tuple[str, PublicKey]]:
    """Every admin key ever trusted, as (note key name, key) pairs for checkpoint notes."""
    return [(origin, PublicKey(k.public_key)) for k in registry if k.role == "admin"]


def _unverified_size(note: str | None) -> int | None:
    """The size an external checkpoint claims (verified later, once the registry is known)."""
    if note is None:
        return None
    body, _ = parse_note(note)
    return Checkpoint.from_body(body).size


def _check_against(
    report: VerifyReport, conn: Connection, verifier: _Verifier, note: str | None,
    keys: list[PublicKey] | None,
) -> None:
    if note is None:
        return
    origin = verifier.head.origin
    trusted = [(origin, k) for k in keys] if keys else admin_note_keys(report.registry, origin)
    try:
        cp = open_checkpoint(note, origin=origin, keys=trusted)
    except CheckpointError as e:
        if isinstance(e, IntegrityError):
            raise _Fail(None, f"--against checkpoint: {e}") from e
        raise
    report.against = cp
    if cp.size > report.size:
        raise _Fail(report.size, f"the ledger has {report.size} entries but the checkpoint commits "
                    f"to {cp.size}: it was truncated or rolled back")
    if cp.size and verifier.cp_roots.get(cp.size) != cp.root:
        raise _Fail(None, f"the ledger does not extend the checkpoint of size {cp.size}: "
                    "its first entries were rewritten")
    # The same fact as a consistency proof from the stored tree nodes, which is what
    # a client without the full ledger would check.
    proof = consistency_proof(cp.size, report.size, node_reader(conn))
    try:
        verify_consistency(cp.size, report.size, cp.root, report.root, proof)
    except ProofError as e:
        raise _Fail(None, "stored Merkle nodes are corrupt: consistency proof failed "
                    f"({e.reason}); run 'assure reindex'") from e
