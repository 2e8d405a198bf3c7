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

The first failure is reported with its seq and reason, exactly as if every
entry were checked one after the other. The work is split so that large
ledgers use every core (Ed25519 verification dominates the cost):

* the main process streams the entries and keeps only what is sequential:
  contiguous seqs, each ``prev_hash`` against the previous ``entry_hash``, the
  Merkle frontier (and the roots at checkpoint sizes) and the key registry.
  Key events (entry 0 and every leaf whose canonical ``"kind"`` member starts
  with ``key.``; rare) are checked completely here, signatures included, and
  replayed into the registry;
* every other entry goes, in chunks that never span a key event, to a worker
  process together with the registry as of that chunk: leaf form, seq and
  origin, ``entry_hash``, ``idem_key``, the payload's digest, type and kind,
  each signer's standing and each signature.

Each side reports the first failure it finds; the lowest seq wins, and on one
seq the check that comes first in the entry-by-entry order wins. Nothing here
trusts the projections or the tree node table: the main process also feeds each
entry it reads (and the tree nodes it completes) to :class:`ledger.reindex.DerivedCheck`,
which compares a window of derived rows with the stored ones while the workers
check signatures; a difference is reported after every other check passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from ledger import models as m
from ledger.canonical import STRICT_DECODER, parse_json
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    admin_note_keys,
    open_checkpoint,
    parse_note,
)
from ledger.dsse import pae
from ledger.entry import (
    GENESIS_PREV_HASH,
    Leaf,
    entry_hash,
    idempotency_key,
    parse_leaf,
)
from ledger.errors import IntegrityError, LedgerStateError
from ledger.head import node_reader, read_head
from ledger.key_events import GenesisError, KeyEventError, replay_entry
from ledger.keys import PublicKey, verify_signature
from ledger.merkle import (
    Frontier,
    ProofError,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)
from ledger.records import LEDGER_KINDS, KeyTrustRecord, parse_record, record_to_json
from ledger.registry import KeyState, Registry, SignerError
from ledger.reindex import DerivedCheck
from ledger.time_rules import DEFAULT_MAX_SKEW, key_window_problem
from ledger.timeutil import format_timestamp, parse_timestamp, utcnow
from ledger.verified_state import VerifiedState
from ledger.verify_rules import ChunkFacts, RuleState, entry_rule_failure

CHUNK = 1_000
"""Entries per unit of work handed to a worker (and rows fetched at a time)."""
PARALLEL_THRESHOLD = 5_000
"""Smaller ledgers are checked in one process: starting workers would cost more."""
IN_FLIGHT = 2
"""Chunks queued per worker before the reader waits, so memory stays constant."""

Row = tuple[int, bytes, bytes, bytes, str, str, str | None, bytes | None]
"""seq, entry_hash, prev_hash, leaf, payload_sha256, idem_key, payload_type, payload body."""
Failure = tuple[int | None, int, str]
"""A failure as a worker returns it: seq, rank (see below), reason."""

# Where a check sits in the entry-by-entry order, relative to the prev_hash
# check (the only per-entry check the main process makes for entries it hands
# to a worker): on one seq, the earlier check's reason is the one reported.
_BEFORE_PREV, _PREV, _AFTER_PREV = 0, 1, 2

_KEY_EVENT = b'"kind":"key.'
_SCOPE_INDEX = b'"kind":"scope_index"'
"""How a key event's (or scope index's) canonical leaf spells its kind. In canonical
JSON a quote inside a string is escaped, so this only matches the leaf's own kind member."""

_BAD_SIGNATURE = "signature does not verify (payload or signature altered)"
_BAD_PREV = "prev_hash does not match the hash of the previous entry"


class _Fail(Exception):
    def __init__(self, seq: int | None, reason: str, rank: int = _AFTER_PREV) -> None:
        super().__init__(reason)
        self.seq, self.reason, self.rank = seq, reason, rank

    def precedes(self, other: _Fail | None) -> bool:
        """True if this failure comes first in the entry-by-entry order."""
        if other is None:
            return True
        if self.seq is None or other.seq is None:
            return other.seq is None and self.seq is not None
        return (self.seq, self.rank) < (other.seq, other.rank)


_SCAN = STRICT_DECODER.scan_once


def _check_payload_kind(body: bytes, kind: str, seq: int) -> dict[str, Any]:
    """The payload as a JSON object; fail unless it is a strict one whose ``kind`` is ``kind``."""
    try:  # the C scanner alone: no surrounding whitespace, which canonical payloads never have
        text = body.decode("utf-8")
        obj, end = _SCAN(text, 0)
        if end == len(text) and obj.get("kind") == kind:
            return obj  # type: ignore[no-any-return]
    except (ValueError, AttributeError, OverflowError, RecursionError, StopIteration):
        pass
    try:  # the reference reader, for the verdict and its wording
        parsed = parse_json(body)
        found = parsed.get("kind")
    except (ValueError, AttributeError, OverflowError) as e:  # CanonicalError is a ValueError; huge numerals
        raise _Fail(seq, f"payload is not a JSON record: {e}") from e
    if found != kind:
        raise _Fail(seq, f"payload kind {found!r} does not match the leaf kind {kind!r}")
    return parsed  # type: ignore[no-any-return]


# ------------------------------------------------------------------ entry checks

class _EntryChecks:
    """The checks of one entry that need no earlier entry, in their reporting order."""

    def __init__(self, origin: str, registry: Registry, max_skew: dt.timedelta = DEFAULT_MAX_SKEW) -> None:
        self.origin = origin
        self.registry = registry
        self.max_skew = max_skew
        self.signatures = 0
        self.facts = ChunkFacts()
        self._times: dict[str, dt.datetime] = {}
        self._signers: dict[tuple[str, str, dt.datetime, str | None], KeyState] = {}

    def stored(self, row: Row, prev: bytes | None = None) -> tuple[Leaf, dt.datetime]:
        """Leaf, hashes, idem_key and payload bytes; ``prev``: the previous entry_hash, if known here."""
        seq, ehash, prev_col, leaf_bytes, payload_sha, idem, ptype, body = row
        try:
            leaf = parse_leaf(leaf_bytes)
        except ValueError as e:
            raise _Fail(seq, f"leaf is malformed: {e}", _BEFORE_PREV) from e
        if leaf.seq != seq:
            raise _Fail(seq, f"leaf says seq {leaf.seq} but is stored at {seq} (entries swapped or moved)",
                        _BEFORE_PREV)
        if leaf.origin != self.origin:
            raise _Fail(seq, f"leaf origin {leaf.origin!r} is not this ledger's {self.origin!r}", _BEFORE_PREV)
        if prev is not None and prev_col != prev:
            raise _Fail(seq, _BAD_PREV, _PREV)
        if entry_hash(prev_col, leaf_bytes) != ehash:
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
        return leaf, self.received_at(leaf, seq)

    def received_at(self, leaf: Leaf, seq: int) -> dt.datetime:
        """The leaf's receive time (entries appended in one batch share it: parsed once)."""
        at = self._times.get(leaf.received_at)
        if at is None:
            try:
                at = parse_timestamp(leaf.received_at)
            except ValueError as e:
                raise _Fail(seq, f"leaf received_at is invalid: {e}") from e
            if len(self._times) > CHUNK:
                self._times.clear()
            self._times[leaf.received_at] = at
        return at

    def signer(self, keyid: str, kind: str, at: dt.datetime, seq: int, system: str | None = None) -> KeyState:
        """The registry key for ``keyid`` if it may sign a ``kind`` record of ``system`` at ``at``."""
        memo = (keyid, kind, at, system)
        key = self._signers.get(memo)
        if key is None:
            try:
                key = self.registry.check_signer(keyid, kind=kind, at=at, system=system)
            except SignerError as e:
                raise _Fail(seq, f"signer not allowed at this entry: {e}") from e
            if len(self._signers) > CHUNK:
                self._signers.clear()
            self._signers[memo] = key
        return key

    def entry(self, row: Row) -> None:
        """Every check of an entry that is not a key event, except its link to the previous one."""
        leaf, at = self.stored(row)
        seq, body = row[0], row[7]
        assert seq != 0 and leaf.kind not in LEDGER_KINDS, "key events and indexes are checked by the main process"
        assert body is not None
        obj = _check_payload_kind(body, leaf.kind, seq)
        if not leaf.signatures:
            raise _Fail(seq, "entry has no signatures")
        system = obj.get("system")
        keys = [self.signer(sig.keyid, leaf.kind, at, seq, system) for sig in leaf.signatures]
        message = pae(leaf.payload_type, body)
        for key, sig in zip(keys, leaf.signatures, strict=True):
            self.signatures += 1
            if not verify_signature(key.public_key, message, sig.sig):
                raise _Fail(seq, _BAD_SIGNATURE)
        if why := entry_rule_failure(obj, at, max_skew=self.max_skew):
            raise _Fail(seq, why)
        self.facts.add(seq, leaf.kind, obj, [sig.keyid for sig in leaf.signatures], row[1])


ChunkResult = tuple[int, Failure | None, ChunkFacts]
"""Signatures verified, the first failure, and the facts the cross-entry rules need."""


def _check_chunk(origin: str, registry: Registry, rows: list[Row], max_skew: dt.timedelta = DEFAULT_MAX_SKEW
                 ) -> ChunkResult:
    """Check consecutive entries that are not key events (runs in a worker process).

    Returns:
        The number of signatures verified, the first failure, if any, and the
        chunk's facts for the cross-entry rules (:mod:`ledger.verify_rules`).
    """
    checks = _EntryChecks(origin, registry, max_skew)
    try:
        for row in rows:
            checks.entry(row)
    except _Fail as f:
        return checks.signatures, (f.seq, f.rank, f.reason), checks.facts
    return checks.signatures, None, checks.facts


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
    since: int | None = None
    """With a verified state: the size it recorded (entries before it were not read again)."""
    state: VerifiedState | None = None
    """After a successful run: what the next run may start from."""

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
        if self.since is not None:
            out["since"] = self.since
            out["entries_checked"] = max(self.size - self.since, 0) if self.ok else None
        if self.against is not None:
            out["against"] = {"size": self.against.size, "root": self.against.root.hex()}
        if self.failure is not None:
            out["failure"] = {"seq": self.failure.seq, "reason": self.failure.reason}
        return out


def default_workers() -> int:
    """Checking processes by default: one per core plus one, or none on a single core.

    The reader mostly waits for the workers; one more worker than cores keeps
    every core busy while it reads (measured on 2 cores: about 15% faster).
    """
    cores = os.cpu_count() or 1
    return cores + 1 if cores > 1 else 1


def verify_ledger(
    engine: Engine,
    *,
    against_note: str | None = None,
    against_keys: list[PublicKey] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    derived: bool = True,
    since: VerifiedState | None = None,
) -> VerifyReport:
    """Verify every entry, the head, stored checkpoints and optionally an external one.

    Args:
        engine: the ledger database.
        against_note: a signed checkpoint note kept outside the database.
        against_keys: keys that may have signed ``against_note``; default: every
            admin key the ledger ever trusted (pin one out of band for real audits).
        workers: checking processes (default: :func:`default_workers`; 1 = in-process).
        progress: called with (entries done, total) after each chunk.
        max_skew: how far a record's ``observed_at`` may be ahead of its ``received_at``.
        derived: also compare every derived table with the entries (:mod:`ledger.reindex`).
        since: a verified state from an earlier run (:mod:`ledger.verified_state`): check that
            the ledger extends it and only the entries after it (and the derived rows they give).

    Returns:
        A report; ``report.failure`` names the first bad seq and why; ``report.state``, if
        it passed, what the next run may start from.

    Raises:
        LedgerStateError: if the ledger is not initialised.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return verify_connection(
                conn, against_note=against_note, against_keys=against_keys,
                workers=workers, progress=progress, max_skew=max_skew, derived=derived, since=since,
            )


def verify_connection(
    conn: Connection,
    *,
    against_note: str | None = None,
    against_keys: list[PublicKey] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    derived: bool = True,
    since: VerifiedState | None = None,
) -> VerifyReport:
    """:func:`verify_ledger` inside a transaction the caller holds (one snapshot)."""
    head = read_head(conn)
    if head is None:
        raise LedgerStateError("the ledger is not initialised: run 'assure init'")
    report = VerifyReport(origin=head.origin, since=since.size if since else None)
    start = since.size if since else 0
    stored_cps = [(size, note) for size, note in conn.execute(select(m.Checkpoint.size, m.Checkpoint.note))
                  if size > start]
    rows = conn.execute(
        select(
            m.Entry.seq, m.Entry.entry_hash, m.Entry.prev_hash, m.Entry.leaf,  # type: ignore[call-overload]
            m.Entry.payload_sha256, m.Entry.idem_key, m.Payload.payload_type, m.Payload.body,
        )
        .outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        .where(m.Entry.seq >= start)
        .order_by(m.Entry.seq)
        .execution_options(yield_per=CHUNK)
    )
    against_size = _unverified_size(against_note)
    verifier = _Verifier(report, head, stored_cps, workers, progress, against_size, max_skew, since)
    if derived:  # compared as the entries are read, window by window; reported after everything else
        verifier.derive(conn, DerivedCheck(conn, since))
    try:
        _check_resumable(head, since)
        try:
            verifier.run(rows)
        finally:
            rows.close()
        verifier.conclude(conn)
        _check_against(report, conn, verifier, against_note, against_keys)
        verifier.check_derived()
    except _Fail as f:
        report.failure = IntegrityError(f.reason, seq=f.seq)
    else:
        report.state = verifier.state()
    return report


def _check_resumable(head: Any, since: VerifiedState | None) -> None:
    """The ledger is the one the state was taken from, and at least as long."""
    if since is None:
        return
    if since.origin != head.origin:
        raise _Fail(None, f"the verified state is of ledger {since.origin!r}, not this one ({head.origin!r})")
    if head.size < since.size:
        raise _Fail(head.size, f"the ledger has {head.size} entries but {since.size} were verified before: "
                    "it was truncated or rolled back")


def _derived_differs(difference: str) -> _Fail:
    return _Fail(None, f"derived data differs from the entries: {difference} "
                 "(a table was changed behind the ledger's back; 'assure reindex' rebuilds it)")


class _Verifier:
    """The sequential side of a verification: reads entries in order and farms out the rest."""

    def __init__(self, report, head, stored_cps, workers, progress, against_size, max_skew,  # type: ignore[no-untyped-def]
                 since: VerifiedState | None = None) -> None:
        self.report = report
        self.head = head
        self.max_skew = max_skew
        self.rules = RuleState()
        self.received: tuple[bytes, dt.datetime] | None = None  # the last entry's received_at, text and time
        self.cp_sizes = {size: note for size, note in stored_cps}
        self.watch = set(self.cp_sizes) | ({against_size} if against_size else set())
        self.cp_roots: dict[int, bytes] = {}
        self.workers = workers if workers is not None else default_workers()
        self.progress = progress
        self.registry = report.registry
        self.snapshot = self.registry.copy()  # the registry as of the chunk being filled
        self.checks = _EntryChecks(head.origin, self.registry)  # for key events, in this process
        self.frontier = Frontier()
        self.prev = GENESIS_PREV_HASH
        self.expected = 0
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[Future[ChunkResult]] = []
        self.chunk: list[Row] = []
        self.failure: _Fail | None = None
        self.conn: Connection | None = None
        self.derived: DerivedCheck | None = None
        self.derived_failure: _Fail | None = None
        if since is not None:
            self._resume(since)

    def derive(self, conn: Connection, check: DerivedCheck) -> None:
        """Also recompute the derived tables from the entries as they are read, and compare them
        with the stored rows (:mod:`ledger.reindex`) in ``conn``'s transaction."""
        self.conn, self.derived = conn, check

    def check_derived(self) -> None:
        """After every other check passed: the first derived row the entries do not give.

        Raises:
            _Fail: naming the table, the row and what differs.
        """
        if self.derived_failure is not None:
            raise self.derived_failure
        if self.derived is not None:
            for difference in self.derived.finish(self.conn):  # type: ignore[arg-type]
                raise _derived_differs(difference)

    def _resume(self, since: VerifiedState) -> None:
        """Start where an earlier verification stopped (its registry, tree, clock and rule state)."""
        self.registry = self.report.registry = since.registry.copy()
        self.snapshot = self.registry.copy()
        self.checks = _EntryChecks(self.head.origin, self.registry)
        self.frontier = Frontier(since.size, since.frontier.hashes)
        self.prev, self.expected = since.last_hash, since.size
        if since.received_at:
            self.received = (since.received_at.encode(), parse_timestamp(since.received_at))
        self.rules = RuleState(systems=dict(since.systems), versions=dict(since.versions),
                               scopes=since.scopes.copy())
        if since.size in self.watch:
            self.cp_roots[since.size] = self.frontier.root()

    def state(self) -> VerifiedState:
        """What a later verification may start from (after a successful run)."""
        return VerifiedState(
            origin=self.head.origin, frontier=Frontier(self.frontier.size, self.frontier.hashes),
            last_hash=self.prev, received_at=self.received[0].decode() if self.received else None,
            registry=self.registry.copy(), systems=dict(self.rules.systems), versions=dict(self.rules.versions),
            scopes=self.rules.scopes.copy(), verified_at=format_timestamp(utcnow()),
        )

    def run(self, rows: Iterable[Sequence[Any]]) -> None:
        """Check every entry (failures are noted; :meth:`conclude` reports the first)."""
        try:
            try:
                self._read(rows)
            except _Fail as f:
                self._note(f)
            self._flush()
            self._drain(block=True)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)

    def conclude(self, conn: Connection) -> None:
        """After :meth:`run` (the entries read): the references, then the head and the stored checkpoints.

        Raises:
            _Fail: the first failure in entry-by-entry order.
        """
        if self.failure is None or self.failure.seq is not None:
            referenced = self.rules.check_references(conn, self.registry)
            if referenced is not None:
                self._note(_Fail(*referenced))
        if self.failure is not None:
            raise self.failure
        self._finish()
        if self.progress:
            self.progress(self.expected, self.head.size)

    def _read(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            seq, prev, leaf = row[0], row[2], row[3]
            exp = self.expected
            if seq != exp:
                raise _Fail(exp, f"entry {exp} is missing (the next stored entry is {seq})"
                            if seq > exp else f"sequence goes backwards ({seq} after {exp - 1})")
            self._check_clock(seq, leaf)
            if seq == 0 or _KEY_EVENT in leaf or _SCOPE_INDEX in leaf:
                self._flush()
                self._key_event(tuple(row))  # type: ignore[arg-type]
                continue
            entry = tuple(row)
            self.chunk.append(entry)  # type: ignore[arg-type]
            if prev != self.prev:
                raise _Fail(seq, _BAD_PREV, _PREV)
            self._advance(entry)  # type: ignore[arg-type]
            if len(self.chunk) >= CHUNK:
                self._flush()
                if self._drain(block=len(self.pending) > IN_FLIGHT * self.workers):
                    return
                if self.progress:
                    self.progress(self.expected, self.head.size)

    def _check_clock(self, seq: int, leaf: bytes) -> None:
        """Receive times never go backwards (entries of one batch share theirs: parsed once)."""
        start = leaf.find(b'"received_at":"')
        if start < 0:
            return  # a malformed leaf: the entry's own checks say so
        start += 15
        text = leaf[start : leaf.find(b'"', start)]
        if self.received is not None and text == self.received[0]:
            return
        try:
            at = parse_timestamp(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return
        if self.received is not None and at < self.received[1]:
            raise _Fail(seq, f"received_at {text.decode()} is earlier than the previous entry's "
                        f"({self.received[0].decode()}): the ledger's clock went backwards")
        self.received = (text, at)

    def _advance(self, row: Row) -> None:
        seq, ehash, leaf = row[0], row[1], row[3]
        self.prev = ehash
        nodes = self.frontier.append(leaf_hash(leaf))
        self.expected += 1
        if self.frontier.size in self.watch:
            self.cp_roots[self.frontier.size] = self.frontier.root()
        if self.derived is not None:
            self._derive(seq, ehash, leaf, row[7], nodes)

    def _derive(self, seq: int, ehash: bytes, leaf: bytes, body: bytes | None,
                nodes: list[tuple[int, int, bytes]]) -> None:
        """The entry's derived rows (and, every window, the comparison); the first difference is kept."""
        assert self.derived is not None and self.conn is not None
        try:
            differences = self.derived.add(self.conn, seq, bytes(ehash), bytes(leaf), body, nodes)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - an entry its own checks refuse (they report it first), or a bug
            differences = [f"entry {seq} could not be derived ({type(e).__name__}: {e})"]
        if differences:
            self.derived_failure, self.derived = _derived_differs(differences[0]), None

    def _key_event(self, row: Row) -> None:
        """Check entry 0 or a key event completely, here, and replay it into the registry."""
        seq, ehash, _, _, _, _, _, body = row
        leaf, at = self.checks.stored(row, prev=self.prev)
        assert body is not None
        record = self._payload_record(leaf, body, seq)
        for pub, message, sig in self._signature_tasks(leaf, body, seq, at, record):
            self.report.signatures += 1
            if not verify_signature(pub, message, sig):
                raise _Fail(seq, _BAD_SIGNATURE)
        if record is not None:
            self._key_event_rules(record, seq, at)
        # In ledger order with the chunks' facts: the scope counts, and an index's claim.
        done: Future[ChunkResult] = Future()
        done.set_result((0, None, ChunkFacts.ledger_event(seq, leaf.kind, ehash, record)))
        self.pending.append(done)
        self.snapshot = self.registry.copy()
        self._advance(row)

    def _key_event_rules(self, record: Any, seq: int, at: dt.datetime) -> None:
        if isinstance(record, KeyTrustRecord) and record.valid_until and seq != 0:
            why = key_window_problem(parse_timestamp(record.valid_until), at)
            if why:
                raise _Fail(seq, f"field 'valid_until': {why} (append refuses this)")
        if why := entry_rule_failure(record_to_json(record), at, max_skew=self.max_skew):
            raise _Fail(seq, why)

    @staticmethod
    def _payload_record(leaf: Leaf, body: bytes, seq: int) -> Any:
        if leaf.kind not in LEDGER_KINDS and seq != 0:
            _check_payload_kind(body, leaf.kind, seq)
            return None
        try:
            return parse_record(parse_json(body), source=f"entry {seq}")
        except Exception as e:
            raise _Fail(seq, f"key event payload is invalid: {e}") from e

    def _signature_tasks(
        self, leaf: Leaf, body: bytes, seq: int, at: dt.datetime, record: Any
    ) -> list[tuple[bytes, bytes, bytes]]:
        if not leaf.signatures:
            raise _Fail(seq, "entry has no signatures")
        msg = pae(leaf.payload_type, body)
        try:
            keys = replay_entry(self.registry, record, seq=seq, kind=leaf.kind,
                                keyids=[s.keyid for s in leaf.signatures], at=at)
        except GenesisError as e:
            raise _Fail(seq, str(e)) from e
        except KeyEventError as e:
            raise _Fail(seq, f"invalid key event: {e}") from e
        except SignerError as e:
            raise _Fail(seq, f"signer not allowed at this entry: {e}") from e
        return [(key.public_key, msg, sig.sig) for key, sig in zip(keys, leaf.signatures, strict=True)]

    # -------------------------------------------------------------- the workers

    def _flush(self) -> None:
        """Hand the filled chunk, with the registry as of its first entry, to a worker."""
        if not self.chunk:
            return
        chunk, self.chunk = self.chunk, []
        if self.pool is None and self.workers > 1 and self.head.size >= PARALLEL_THRESHOLD:
            self.pool = ProcessPoolExecutor(self.workers)
        if self.pool is None:
            fut: Future[ChunkResult] = Future()
            fut.set_result(_check_chunk(self.head.origin, self.snapshot, chunk, self.max_skew))
        else:
            fut = self.pool.submit(_check_chunk, self.head.origin, self.snapshot, chunk, self.max_skew)
        self.pending.append(fut)

    def _drain(self, *, block: bool) -> bool:
        """Collect finished chunks in order; True once one of them failed."""
        while self.pending and (block or self.pending[0].done()):
            signatures, failure, facts = self.pending.pop(0).result()
            self.report.signatures += signatures
            broken = self.rules.merge(facts)
            if broken is not None:
                self._note(_Fail(*broken))
            if failure is not None:
                seq, rank, reason = failure
                self._note(_Fail(seq, reason, rank))
                for fut in self.pending:
                    fut.cancel()
                self.pending.clear()
                self.chunk = []
                return True
        return False

    def _note(self, failure: _Fail) -> None:
        if failure.precedes(self.failure):
            self.failure = failure

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
    if cp.size and cp.size in verifier.cp_roots and verifier.cp_roots[cp.size] != cp.root:
        raise _Fail(None, f"the ledger does not extend the checkpoint of size {cp.size}: "
                    "its first entries were rewritten")
    # The same fact as a consistency proof from the stored tree nodes, which is what
    # a client without the full ledger would check.
    proof = consistency_proof(cp.size, report.size, node_reader(conn))
    try:
        verify_consistency(cp.size, report.size, cp.root, report.root, proof)
    except ProofError as e:
        if cp.size not in verifier.cp_roots:  # below a verified state: the proof is all there is
            raise _Fail(None, f"the ledger is not shown to extend the checkpoint of size {cp.size} "
                        f"({e.reason}): its first entries or the stored Merkle nodes were changed") from e
        raise _Fail(None, "stored Merkle nodes are corrupt: consistency proof failed "
                    f"({e.reason}); run 'assure reindex'") from e
