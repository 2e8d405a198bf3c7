"""Appending a batch: all or nothing, every rule checked, the critical section short.

Appending works in two phases:

1. *prepare* (no lock): parse and validate every record (its own rules,
   :mod:`ledger.record_rules`), sign unsigned ones, prove each envelope's
   payload is the canonical form of a valid record, refuse records observed in
   the future (:mod:`ledger.time_rules`), judge each signer against the key
   registry and verify every Ed25519 signature (for a large batch, in a worker
   process: :mod:`ledger.deferred_checks`);
2. *commit* (one write transaction, the head row locked): take the receive
   time, refuse it if the ledger's clock went backwards, re-judge signers if
   the key events or the time changed since, refuse replays, check what each
   record refers to (:mod:`ledger.references`) and the exception limits
   (:mod:`ledger.append_policy`), then write entries, payloads, Merkle nodes,
   projections and the new head.

Signers are judged by the registry that the ledger's own key events make
(:mod:`ledger.trusted_keys`), never by the ``key_registry`` rows. Any error
aborts the transaction: nothing is written. A writer that loses a race for
the lock waits (SQLite busy timeout, PostgreSQL row lock) and a transient
failure is retried transparently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.exc import OperationalError

from ledger import models as m
from ledger.append_policy import AppendPolicy, exception_problem, strictest_tier
from ledger.db import write_transaction
from ledger.deferred_checks import (
    PARALLEL_FROM,
    CanonicalCheck,
    DeferredChecks,
    SignatureCheck,
)
from ledger.dsse import Envelope, is_envelope, pae, sign_envelope
from ledger.entry import Leaf, entry_hash, idempotency_key, leaf_bytes
from ledger.errors import AssureError, DuplicateError, InputError, LedgerStateError
from ledger.gc_pause import gc_paused
from ledger.head import (
    HEAD_ID,
    Head,
    frontier_nodes,
    lock_head_and_last_leaf,
    not_initialised,
)
from ledger.ingest import Document
from ledger.key_events import apply_key_event
from ledger.keys import PrivateKey
from ledger.merkle import inclusion_proof, leaf_hash
from ledger.projection import (
    control_rows,
    insert_raw,
    insert_tuples,
    key_rows,
    projection_row,
)
from ledger.records import (
    KEY_KINDS,
    LEDGER_KINDS,
    ORG_WIDE,
    PAYLOAD_TYPE,
    AnyRecord,
    KeyTrustRecord,
    parse_record,
    parse_record_bytes,
    record_bytes,
    require_canonical_payload,
)
from ledger.references import (
    MODEL_VERSION_REFS,
    EntryFacts,
    load_facts,
    model_version_problem,
    reference_problem,
    submitter_owners,
)
from ledger.registry import KeyState, Registry, SignerError
from ledger.time_rules import clock_problem, key_window_problem, observed_problem
from ledger.timeutil import format_timestamp, parse_timestamp, utcnow
from ledger.trusted_keys import cached_registry, load_registry

log = logging.getLogger(__name__)

MAX_BATCH = 100_000
_RETRIES = 20


class ClockError(InputError):
    """The appending machine's clock is behind the ledger's last entry (nothing written)."""


class StaleIndexError(LedgerStateError):
    """A scope index names a size other than its own seq: the head moved; compute it again."""


@dataclass
class Prepared:
    """A validated, signature-checked record waiting to be written."""

    source: str
    envelope: Envelope
    record: AnyRecord
    payload_sha256: str
    signers: tuple[KeyState, ...] = ()
    """The signing keys as judged by :meth:`Appending.prepare`."""
    idem_key: str = field(init=False)
    """Replay key: payload digest plus the signing keys."""
    system: str | None = field(init=False)
    """The record's system (None for key events)."""

    def __post_init__(self) -> None:
        # Read for every record, several times: plain attributes (a cached_property takes a lock per read).
        self.idem_key = idempotency_key(self.payload_sha256, [s.keyid for s in self.envelope.signatures])
        self.system = self.record.__dict__.get("system")  # (a pydantic getattr miss is slow)


@dataclass(frozen=True)
class TreeHead:
    """The tree an append's commit made: its origin, size and root."""

    origin: str
    size: int
    root: bytes


@dataclass(frozen=True)
class Appended:
    """What one append wrote: the entry's place and hash (and, if asked for, its inclusion proof)."""

    seq: int
    entry_hash: str
    leaf: bytes
    kind: str
    system: str | None
    source: str
    tree: TreeHead | None = None
    """With ``prove=True``: the tree the append's commit made (the same for its whole batch)."""
    proof: tuple[bytes, ...] | None = None
    """With ``prove=True``: the entry's inclusion proof in ``tree``."""


@dataclass
class _Batch:
    """Rows to insert for one append, built inside the lock."""

    entries: list[tuple[Any, ...]] = field(default_factory=list)  # as _ENTRY_COLUMNS
    payloads: list[tuple[Any, ...]] = field(default_factory=list)  # as _PAYLOAD_COLUMNS
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)  # level, idx, hash
    records: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    signers: list[tuple[int, int, str]] = field(default_factory=list)  # seq, idx, key_id
    keys: list[dict[str, Any]] = field(default_factory=list)
    revocations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _LedgerFacts:
    """What the batch's references are checked against: the ledger's, then the batch's own."""

    entries: dict[str, EntryFacts]
    tiers: dict[str, list[str]]  # system -> every risk tier it was registered with
    versions: set[tuple[str, str]]  # (system, model version) registered
    batch: dict[str, tuple[Prepared, int]] = field(default_factory=dict)
    """The batch's own entries so far, by hash: their facts are built only if referred to."""

    def entry(self, entry_hash: str) -> EntryFacts | None:
        """The facts of the entry with this hash, stored or earlier in the batch, if there is one."""
        found = self.entries.get(entry_hash)
        if found is None and (ours := self.batch.get(entry_hash)) is not None:
            item, seq = ours
            found = EntryFacts(seq, entry_hash, item.record.kind, item.system,
                               tuple(s.keyid for s in item.envelope.signatures))
        return found

    def add(self, item: Prepared, seq: int, entry_hash: str) -> None:
        rec = item.record
        self.batch[entry_hash] = (item, seq)
        if rec.kind == "system":
            self.tiers.setdefault(rec.system, []).append(rec.risk_tier)  # type: ignore[union-attr]
        elif rec.kind == "model_version":
            self.versions.add((rec.system, rec.version))  # type: ignore[union-attr]


def sign_record(record: AnyRecord, key: PrivateKey, *, source: str = "record") -> Envelope:
    """Sign a validated record's canonical bytes into a DSSE envelope (what ``assure sign`` writes)."""
    return sign_envelope(PAYLOAD_TYPE, record_bytes(record, source=source), key)


class Appending:
    """The append side of :class:`ledger.store.Ledger`.

    Attributes:
        engine: the ledger database.
        control_exists: optional predicate for control ids; when given, records
            naming an unknown control are refused.
        policy: clock skew and exception limits (default: :class:`AppendPolicy`).
    """

    engine: Engine
    control_exists: Callable[[str], bool] | None
    policy: AppendPolicy

    def registry(self) -> Registry:  # pragma: no cover - defined by Ledger
        raise NotImplementedError

    def prepare(
        self,
        docs: Sequence[Document],
        *,
        signing_key: PrivateKey | None = None,
        now: dt.datetime | None = None,
        registry: Registry | None = None,
    ) -> list[Prepared]:
        """Validate, sign if needed, and check signatures of a batch, without writing.

        Raises:
            InputError: for the first bad document, naming its source and field.
        """
        now = now or utcnow()
        overlay = (registry or self.registry()).copy()
        with DeferredChecks(parallel=len(docs) >= PARALLEL_FROM) as checks:
            prepared = self._prepare_batch(docs, signing_key, now, overlay, checks)
            checks.raise_first_failure()
        return prepared

    def append(
        self,
        docs: Sequence[Document],
        *,
        signing_key: PrivateKey | None = None,
        now: dt.datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
        parallel: bool = True,
        prove: bool = False,
    ) -> list[Appended]:
        """Append a batch of records/envelopes, all or nothing.

        Args:
            docs: the records or envelopes, with where each came from.
            signing_key: signs the records that are not envelopes.
            now: the receive time to record (default: this machine's clock,
                read under the write lock).
            progress: ``progress(done, total)`` is called as documents are
                checked (every 1,000) and once more when all are, before the
                batch is written.
            parallel: check the signatures and payload forms of a batch of
                ``PARALLEL_FROM`` or more records in a worker process.
            prove: give each entry its inclusion proof in the tree this append
                made (``Appended.tree``, ``Appended.proof``), computed from the
                head's frontier and the batch's own nodes, with no extra read.

        Raises:
            InputError: a bad record, signature or reference (nothing written).
            DuplicateError: a record already in the ledger (nothing written).
            ClockError: this clock is behind the ledger's last entry (nothing written).
            LedgerStateError: the ledger is not initialised.
        """
        if not docs:
            raise InputError("nothing to append")
        # Signers are judged first by the registry this process last replayed (no query, maybe
        # stale); the commit judges them again under the head lock by the key events as they
        # are then, so a key revoked meanwhile is refused. A refusal that a stale registry may
        # have caused is judged again by the current one.
        cached = cached_registry(self.engine)
        try:
            out = self._append(docs, cached or self.registry(), signing_key, now, progress, parallel, prove)
        except AssureError:
            if cached is None or self.registry() == cached:
                raise
            out = self._append(docs, self.registry(), signing_key, now, progress, parallel, prove)
        log.info("append: wrote %d entries, seq %d to %d", len(out), out[0].seq, out[-1].seq)
        return out

    def _append(
        self, docs: Sequence[Document], registry: Registry, signing_key: PrivateKey | None, received: dt.datetime | None,
        progress: Callable[[int, int], None] | None, parallel: bool, prove: bool,
    ) -> list[Appended]:
        now = received or utcnow()
        # The payload-form and signature checks of a large batch run in a worker while
        # this process validates and writes; the transaction commits only once they all passed.
        with gc_paused():
            with DeferredChecks(parallel=parallel and len(docs) >= PARALLEL_FROM) as checks:
                prepared = self._prepare_batch(docs, signing_key, now, registry.copy(), checks, progress)
                out = self.commit(prepared, now=now, judged=registry, checks=checks, received=received, prove=prove)
            # Freed before the collector is back on: the collection that follows walks only what is returned.
            del prepared
        return out

    def commit(
        self, prepared: list[Prepared], *, now: dt.datetime, judged: Registry, checks: DeferredChecks | None = None,
        received: dt.datetime | None = None, prove: bool = False,
    ) -> list[Appended]:
        """Write a batch made by :meth:`prepare` (judged against ``judged`` at ``now``), all
        or nothing, retrying transient conflicts.

        Args:
            prepared: the batch.
            now: when the signers were judged.
            judged: the registry they were judged against.
            checks: payload-form and signature checks still running for this batch; the
                write commits only if they pass (and a failed one is reported before any
                error found under the lock).
            received: the receive time to record; default: the clock, read under the lock.
            prove: give each entry its inclusion proof (see :meth:`append`).

        Raises:
            InputError: a bad signature, a signer no longer allowed, or a bad
                reference (nothing written).
            DuplicateError: a record already in the ledger (nothing written).
            ClockError: the receive time is behind the ledger's last entry.
        """
        delay = 0.01
        for attempt in range(_RETRIES):
            try:
                with write_transaction(self.engine) as conn:
                    try:
                        out = _commit(conn, prepared, now=now, judged=judged, received=received, policy=self.policy,
                                      prove=prove)
                    finally:
                        # Before COMMIT; and a document's own checks (form, signatures) outrank
                        # what is found against the ledger under the lock, as in one process.
                        if checks is not None:
                            checks.raise_first_failure()
                    return out
            except SAIntegrityError as e:
                if "idem_key" in str(e.orig) and attempt < _RETRIES - 1:
                    continue  # a concurrent writer committed the same record first
                if "entry" in str(e.orig) and "seq" in str(e.orig):
                    raise LedgerStateError(
                        "the ledger head is behind the stored entries (was it rewound?): run 'assure verify'"
                    ) from e
                raise
            except OperationalError as e:
                if not _transient(e) or attempt == _RETRIES - 1:
                    raise
                log.info("append: transient database error, retrying: %s", e.orig)
                time.sleep(delay + secrets.randbelow(10) / 1000)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ prepare

    def _prepare_batch(
        self,
        docs: Sequence[Document],
        signing_key: PrivateKey | None,
        now: dt.datetime,
        overlay: Registry,
        checks: DeferredChecks,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Prepared]:
        """:meth:`prepare`, with the payload-form and signature checks queued on ``checks``,
        not awaited (unless another error is found: a failed check of an earlier
        document is then reported instead, as it comes first in document-by-document order)."""
        if len(docs) > MAX_BATCH:
            raise InputError(f"a batch holds at most {MAX_BATCH} records, got {len(docs)}")
        seen: dict[str, str] = {}
        # Judgements by (key ids, kind, system), good until a key event in the batch changes the overlay.
        judged: dict[tuple[Any, ...], tuple[KeyState, ...]] = {}
        out = []
        i = 0
        try:
            for i, doc in enumerate(docs):
                item = self._prepare_one(i, doc, signing_key, checks)
                prior = seen.get(item.idem_key)
                if prior is not None:
                    raise DuplicateError(
                        f"the same signed record appears twice in this batch (also {prior})", source=doc.source
                    )
                seen[item.idem_key] = doc.source
                _check_times(item, now, self.policy)
                sigs = item.envelope.signatures
                asked = (sigs[0].keyid if len(sigs) == 1 else tuple(s.keyid for s in sigs), item.record.kind, item.system)
                signers = judged.get(asked)
                if signers is None:
                    signers = judged[asked] = _signers(item, overlay, now)
                item.signers = signers
                _queue_signatures(i, item, checks)
                if item.record.kind in KEY_KINDS:
                    judged.clear()
                    try:
                        apply_key_event(overlay, item.record, seq=-1 - i, at=now)
                    except SignerError as e:
                        raise InputError(str(e), source=doc.source) from e
                self._check_controls(item)
                out.append(item)
                if progress is not None and (i + 1) % 1_000 == 0:
                    progress(i + 1, len(docs))
        except AssureError:
            checks.raise_first_failure(up_to=i)
            raise
        if progress is not None:
            progress(len(docs), len(docs))
        return out

    def _prepare_one(self, index: int, doc: Document, signing_key: PrivateKey | None, checks: DeferredChecks) -> Prepared:
        src = doc.source
        if is_envelope(doc.data):
            env = Envelope.from_json(doc.data, source=src)
            if env.payload_type != PAYLOAD_TYPE:
                raise InputError(
                    f"payloadType {env.payload_type!r} is not {PAYLOAD_TYPE!r}",
                    source=src,
                    field="payloadType",
                )
            record = parse_record_bytes(env.payload, source=f"{src} (payload)")
            if checks.parallel:  # the worker proves the payload is the record's canonical form
                checks.add(CanonicalCheck(index, src, env.payload))
            else:
                require_canonical_payload(env.payload, source=src, record=record)
        else:
            record = parse_record(doc.data, source=src)
            if signing_key is None:
                raise InputError(
                    "unsigned record: give --key PEM (or ASSURE_SIGNING_KEY), "
                    "or append an envelope made by 'assure sign'",
                    source=src,
                )
            env = sign_record(record, signing_key, source=src)
        return Prepared(src, env, record, hashlib.sha256(env.payload).hexdigest())

    def _check_controls(self, item: Prepared) -> None:
        if self.control_exists is None:
            return
        rec = item.record
        named = [*rec.controls, *rec.__dict__.get("compensating_controls", ())]
        for cid in named:
            if not self.control_exists(cid):
                raise InputError(
                    f"unknown control {cid!r} (see 'assure controls list')",
                    source=item.source,
                    field="controls",
                )


def _check_times(item: Prepared, received: dt.datetime, policy: AppendPolicy) -> None:
    """Refuse a record observed in the future, or a key trusted past its validity."""
    rec = item.record
    why = observed_problem(_instant(rec.observed_at), received, max_skew=policy.max_skew)
    if why:
        raise InputError(why, source=item.source, field="observed_at")
    if isinstance(rec, KeyTrustRecord) and rec.valid_until:
        why = key_window_problem(parse_timestamp(rec.valid_until), received)
        if why:
            raise InputError(why, source=item.source, field="valid_until")


@lru_cache(maxsize=1024)
def _instant(timestamp: str) -> dt.datetime:
    """A record's (normalised) timestamp as a datetime: a batch's records often share one."""
    return parse_timestamp(timestamp)


def _signers(item: Prepared, registry: Registry, now: dt.datetime) -> tuple[KeyState, ...]:
    """The key of each signature, if each may sign this record now (no crypto here).

    Raises:
        InputError: naming the signature: a key signing twice, unknown, revoked,
            outside its window, of a role that may not sign the kind, or scoped
            to other systems.
    """
    keys: list[KeyState] = []
    kind, system = item.record.kind, item.system
    for i, sig in enumerate(item.envelope.signatures):
        where = f"signatures[{i}]"
        if any(k.key_id == sig.keyid for k in keys):
            raise InputError("the same key signed twice", source=item.source, field=where)
        try:
            keys.append(registry.check_signer(sig.keyid, kind=kind, at=now, system=system))
        except SignerError as e:
            raise InputError(str(e), source=item.source, field=where) from e
    return tuple(keys)


def _queue_signatures(index: int, item: Prepared, checks: DeferredChecks) -> None:
    message = pae(item.envelope.payload_type, item.envelope.payload)
    for i, (sig, key) in enumerate(zip(item.envelope.signatures, item.signers, strict=True)):
        checks.add(SignatureCheck(index, item.source, f"signatures[{i}]", sig.keyid, key.public_key, message, sig.sig))


# ------------------------------------------------------------------- commit

def _commit(
    conn: Connection, prepared: list[Prepared], *, now: dt.datetime, judged: Registry | None,
    received: dt.datetime | None, policy: AppendPolicy, prove: bool = False,
) -> list[Appended]:
    """Write a prepared batch under the head lock.

    ``judged`` is the registry the signers were judged against at ``now`` (None
    for the genesis entry); if the registry and the time are still the same, so
    are the judgements. With ``prove``, each entry gets its inclusion proof in the
    new tree: every node it needs is the old head's frontier or a node this batch
    completed (:func:`ledger.head.frontier_nodes`).
    """
    locked = lock_head_and_last_leaf(conn)
    if locked is None:
        raise not_initialised()
    head, last_leaf = locked
    registry = load_registry(conn) if head.size else Registry()
    at = received or utcnow()
    if head.size:
        if last_leaf is None:
            raise _missing_last_entry(head)
        if why := clock_problem(at, parse_timestamp(Leaf.from_bytes(last_leaf).received_at)):
            raise ClockError(why)
    changed = judged is not None and registry != judged
    existing = _already_appended(conn, prepared)
    facts = _ledger_facts(conn, prepared)
    received_text = format_timestamp(at)
    frontier = head.frontier.copy()
    nodes = frontier_nodes(frontier) if prove else None
    prev = head.last_hash
    batch = _Batch()
    out = []
    windowed: dict[int, tuple[tuple[KeyState, ...], bool]] = {}  # a batch's records share a few judged tuples
    for i, item in enumerate(prepared):
        seq = head.size + i
        _refuse_replay(item, existing)
        kind = item.record.kind
        if seq != 0 and (changed or (at != now and _any_windowed(item.signers, windowed))):
            item.signers = _signers(item, registry, at)  # key status may have changed since prepare()
        if at != now and isinstance(item.record, KeyTrustRecord):
            _check_times(item, at, policy)
        _check_refs(item, facts, registry, policy)
        if kind == "scope_index" and item.record.size != seq:  # type: ignore[union-attr]
            raise StaleIndexError(f"a scope index for size {item.record.size} cannot be entry {seq}")  # type: ignore[union-attr]
        state = None
        if kind in KEY_KINDS:
            try:
                state = apply_key_event(registry, item.record, seq=seq, at=at)
            except SignerError as e:
                raise InputError(str(e), source=item.source) from e
        if seq == 0:  # genesis: the admin key.trust entry signs itself
            assert state is not None and state.role == "admin"
            item.signers = (state,)
        leaf = leaf_bytes(head.origin, seq, item.record.kind, item.payload_sha256, item.envelope.payload_type,
                          item.envelope.signatures, item.idem_key, received_text)
        h = entry_hash(prev, leaf)
        h_hex = h.hex()
        batch.entries.append((seq, h, prev, leaf, item.payload_sha256, item.idem_key))
        batch.payloads.append((item.payload_sha256, item.envelope.payload_type, item.envelope.payload))
        for completed in frontier.append(leaf_hash(leaf)):
            if completed[0] > 0:
                batch.nodes.append(completed)
            if nodes is not None:
                nodes[completed[0], completed[1]] = completed[2]
        batch.records.append(projection_row(item.record.__dict__, seq=seq, entry_hash=h_hex, received_at=at,
                                            signer=item.signers[0]))
        batch.controls.extend(control_rows(item.record.__dict__, seq=seq))
        batch.signers.extend([(seq, idx, s.keyid) for idx, s in enumerate(item.envelope.signatures)])
        if state is not None:
            new, revoked = key_rows(state, item.record.kind)
            batch.keys.extend(new)
            batch.revocations.extend(revoked)
        facts.add(item, seq, h_hex)
        prev = h
        out.append(Appended(seq, h_hex, leaf, item.record.kind, item.system, item.source))
    _write_batch(conn, batch)
    conn.execute(_UPDATE_HEAD, {"size": frontier.size, "root": frontier.root(), "last_hash": prev,
                                "frontier": frontier.to_bytes()})
    if nodes is None:
        return out
    tree = TreeHead(head.origin, frontier.size, frontier.root())
    return [replace(a, tree=tree, proof=tuple(inclusion_proof(a.seq, tree.size, lambda level, idx: nodes[level, idx])))
            for a in out]


def _windowed(key: KeyState) -> bool:
    return key.valid_until is not None or key.valid_from is not None


def _any_windowed(signers: tuple[KeyState, ...], known: dict[int, tuple[tuple[KeyState, ...], bool]]) -> bool:
    """Whether a key in ``signers`` has a validity window, remembered by tuple (kept alive, so ids stay unique)."""
    found = known.get(id(signers))
    if found is None:
        found = known[id(signers)] = (signers, any(_windowed(k) for k in signers))
    return found[1]


def _missing_last_entry(head: Head) -> LedgerStateError:
    return LedgerStateError(
        f"the ledger head says {head.size} entries but entry {head.size - 1} is not stored: run 'assure verify'"
    )


# Built once: an append's look-ups are the same statements every time (expanding IN lists).
_UPDATE_HEAD = update(m.LedgerHead.__table__).where(m.LedgerHead.__table__.c.id == HEAD_ID)  # type: ignore[attr-defined]
_IDEM_KEYS = select(m.Entry.idem_key, m.Entry.seq).where(
    m.Entry.idem_key.in_(bindparam("keys", expanding=True)))  # type: ignore[attr-defined]
_SYSTEM_TIERS = select(m.Record.system, m.Record.subtype).where(
    m.Record.kind == "system", m.Record.system.in_(bindparam("systems", expanding=True)))  # type: ignore[union-attr]
_MODEL_VERSIONS = select(m.Record.system, m.Record.model_version).where(
    m.Record.kind == "model_version", m.Record.system.in_(bindparam("systems", expanding=True)),  # type: ignore[union-attr]
    m.Record.model_version.in_(bindparam("versions", expanding=True)))  # type: ignore[union-attr]


def _already_appended(conn: Connection, prepared: list[Prepared]) -> dict[str, int]:
    """The seq of each of the batch's idempotency keys the ledger holds already."""
    return appended_seqs(conn, [p.idem_key for p in prepared])


def appended_seqs(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """The seq of each of these idempotency keys the ledger holds already."""
    existing: dict[str, int] = {}
    for chunk in _chunks(keys, 500):
        rows = conn.execute(_IDEM_KEYS, {"keys": chunk})
        existing.update({k: s for k, s in rows})
    return existing


def _refuse_replay(item: Prepared, existing: dict[str, int]) -> None:
    if item.idem_key in existing:
        raise DuplicateError(
            f"this record, signed by the same key(s), is already in the ledger as entry {existing[item.idem_key]} "
            "(replayed envelope)",
            source=item.source,
        )


def _ledger_facts(conn: Connection, prepared: list[Prepared]) -> _LedgerFacts:
    """The stored facts the batch's references need: entries it names, systems, model versions."""
    refs = {r for p in prepared for r in _refs(p.record)}
    systems = sorted({p.system for p in prepared if p.system is not None and p.system != ORG_WIDE})
    versions = sorted({v for p in prepared if (v := _model_version_ref(p.record))})
    tiers: dict[str, list[str]] = defaultdict(list)
    registered: set[tuple[str, str]] = set()
    for chunk in _chunks(systems, 500):
        rows = conn.execute(_SYSTEM_TIERS, {"systems": chunk})
        for system, tier in rows:
            tiers[system].append(tier)
        for vchunk in _chunks(versions, 500):
            rows = conn.execute(_MODEL_VERSIONS, {"systems": chunk, "versions": vchunk})
            registered.update((s, v) for s, v in rows)
    return _LedgerFacts(load_facts(conn, refs), dict(tiers), registered)


def _check_refs(item: Prepared, facts: _LedgerFacts, registry: Registry, policy: AppendPolicy) -> None:
    """Refuse a record whose references the ledger (or the batch so far) does not back."""
    rec, src, system = item.record, item.source, item.system
    if rec.kind not in LEDGER_KINDS and rec.kind != "system" and system != ORG_WIDE and system not in facts.tiers:
        raise InputError(f"system {system!r} is not registered: append a 'system' record for it first",
                         source=src, field="system")
    if rec.kind in MODEL_VERSION_REFS and system is not None and (
        why := model_version_problem(system, rec.__dict__.get("model_version"), facts.versions)
    ):
        raise InputError(why, source=src, field="model_version")
    for field_name in ("target", "supersedes"):
        ref = rec.__dict__.get(field_name)
        if ref is None:
            continue
        target = facts.entry(ref)
        if target is None:
            raise InputError(f"no entry with hash {ref}", source=src, field=field_name)
        why = reference_problem(kind=rec.kind, system=system, field=field_name, ref=target, signers=item.signers,
                                target_owners=submitter_owners(target.signer_key_ids, registry))
        if why:
            raise InputError(why, source=src, field=field_name)
    if rec.kind == "exception" and system is not None:
        problem = exception_problem(
            observed_at=parse_timestamp(rec.observed_at), expires_at=parse_timestamp(rec.expires_at),  # type: ignore[union-attr]
            compensating=list(rec.compensating_controls), tier=strictest_tier(facts.tiers.get(system, [])),  # type: ignore[union-attr]
            policy=policy,
        )
        if problem:
            raise InputError(problem[1], source=src, field=problem[0])


def _refs(record: AnyRecord) -> list[str]:
    return [r for r in (record.__dict__.get("target"), record.supersedes) if r]


def _model_version_ref(record: AnyRecord) -> str | None:
    return record.__dict__.get("model_version") if record.kind in MODEL_VERSION_REFS else None


def _chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _transient(e: OperationalError) -> bool:
    text = str(e.orig).lower()
    return any(s in text for s in ("locked", "busy", "deadlock", "could not serialize", "serialization"))


_ENTRY_COLUMNS = ("seq", "entry_hash", "prev_hash", "leaf", "payload_sha256", "idem_key")


def _write_batch(conn: Connection, batch: _Batch) -> None:
    # Identical content signed by different keys shares one payload row, maybe stored already.
    unique = list({r[0]: r for r in batch.payloads}.values())
    insert_tuples(conn, m.Payload.__table__, ("sha256", "payload_type", "body"), unique,  # type: ignore[attr-defined]
                  skip_existing=True)
    insert_tuples(conn, m.Entry.__table__, _ENTRY_COLUMNS, batch.entries)  # type: ignore[attr-defined]
    insert_tuples(conn, m.TreeNode.__table__, ("level", "idx", "hash"), batch.nodes)  # type: ignore[attr-defined]
    insert_raw(conn, m.Record.__table__, batch.records)  # type: ignore[attr-defined]
    insert_raw(conn, m.RecordControl.__table__, batch.controls)  # type: ignore[attr-defined]
    insert_tuples(conn, m.EntrySigner.__table__, ("seq", "idx", "key_id"), batch.signers)  # type: ignore[attr-defined]
    if batch.keys:
        conn.execute(insert(m.KeyRegistry), batch.keys)
    if batch.revocations:
        conn.execute(insert(m.KeyRevocation), batch.revocations)
