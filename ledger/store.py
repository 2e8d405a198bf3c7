"""The ledger: initialise, append (all-or-nothing), read, and build proofs.

Appending works in two phases so the serialised part stays short:

1. *prepare* (no lock): parse and validate every record, sign unsigned ones,
   check that each envelope's payload is the canonical form of a valid record,
   and verify every Ed25519 signature against the key registry;
2. *commit* (one write transaction, the head row locked): re-check signer status
   against the registry as it is now, refuse duplicates and dangling references,
   then write entries, payloads, Merkle nodes, projections and the new head.

A batch is all-or-nothing: any error aborts the transaction and nothing is
written. A writer that loses a race for the lock waits (SQLite busy timeout,
PostgreSQL row lock) and a transient failure is retried transparently.

This module does not verify the stored ledger; see ``ledger.verify``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Table, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeEngine

from ledger import models as m
from ledger.db import is_sqlite, read_transaction, write_transaction
from ledger.deferred_checks import (
    PARALLEL_FROM,
    CanonicalCheck,
    DeferredChecks,
    SignatureCheck,
)
from ledger.dsse import Envelope, is_envelope, pae, sign_envelope
from ledger.entry import GENESIS_PREV_HASH, Leaf, entry_hash, idempotency_key
from ledger.errors import (
    AssureError,
    DuplicateError,
    InputError,
    LedgerStateError,
    NotFoundError,
)
from ledger.gc_pause import gc_paused
from ledger.ingest import Document
from ledger.keys import PrivateKey, PublicKey
from ledger.merkle import Frontier, inclusion_proof, leaf_hash
from ledger.records import (
    KEY_KINDS,
    ORG_WIDE,
    PAYLOAD_TYPE,
    AnyRecord,
    KeyRevokeRecord,
    KeyTrustRecord,
    parse_record,
    parse_record_bytes,
    record_bytes,
    require_canonical_payload,
)
from ledger.registry import KeyState, Registry, SignerError
from ledger.timeutil import format_timestamp, parse_timestamp, utcnow

log = logging.getLogger(__name__)

HEAD_ID = 1
MAX_BATCH = 100_000
_RETRIES = 20


@dataclass(frozen=True)
class Head:
    """The ledger's identity and its current tree head."""

    origin: str
    size: int
    root: bytes
    last_hash: bytes
    frontier: Frontier


@dataclass
class Prepared:
    """A validated, signature-checked record waiting to be written."""

    source: str
    envelope: Envelope
    record: AnyRecord
    payload_sha256: str
    signers: tuple[KeyState, ...] = ()
    """The signing keys as judged by :meth:`Ledger.prepare`."""

    @cached_property
    def idem_key(self) -> str:
        """Replay key: payload digest plus the signing keys."""
        return idempotency_key(self.payload_sha256, [s.keyid for s in self.envelope.signatures])


@dataclass(frozen=True)
class Appended:
    """What one append wrote: the entry's place and hash."""

    seq: int
    entry_hash: str
    leaf: bytes
    kind: str
    system: str | None
    source: str


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored, with its payload bytes (None if redacted)."""

    seq: int
    entry_hash: bytes
    prev_hash: bytes
    leaf: bytes
    payload_type: str | None
    payload: bytes | None

    @property
    def parsed_leaf(self) -> Leaf:
        """The leaf parsed (raises ValueError if malformed)."""
        return Leaf.from_bytes(self.leaf)

    def envelope(self) -> Envelope | None:
        """The DSSE envelope rebuilt from the stored payload and the leaf's signatures."""
        if self.payload is None:
            return None
        leaf = self.parsed_leaf
        return Envelope(leaf.payload_type, self.payload, leaf.signatures)


@dataclass
class InitResult:
    """Outcome of :func:`init_ledger`."""

    created: bool
    origin: str
    admin_key_id: str
    genesis_hash: str


@dataclass
class _Batch:
    """Rows to insert for one append, built inside the lock."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    keys_new: list[dict[str, Any]] = field(default_factory=list)
    keys_revoked: list[KeyState] = field(default_factory=list)


def _not_initialised() -> LedgerStateError:
    return LedgerStateError("the ledger is not initialised: run 'assure init --admin-key PEM'")


def read_head(conn: Connection, *, lock: bool = False) -> Head | None:
    """Read the head row (locking it FOR UPDATE when ``lock``); None if not initialised."""
    stmt = select(m.LedgerHead).where(m.LedgerHead.id == HEAD_ID)  # type: ignore[arg-type]
    if lock and not is_sqlite(conn):
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        return None
    h = row._mapping
    return Head(
        origin=h["origin"],
        size=h["size"],
        root=h["root"],
        last_hash=h["last_hash"],
        frontier=Frontier.from_bytes(h["size"], h["frontier"]),
    )


def load_registry(conn: Connection) -> Registry:
    """The key registry as currently projected."""
    rows = conn.execute(select(m.KeyRegistry)).mappings()
    return Registry(KeyState(**dict(r)) for r in rows)


def key_state_from_record(rec: KeyTrustRecord, *, seq: int, at: dt.datetime) -> KeyState:
    """The registry state a key.trust record creates."""
    pub = PublicKey.from_b64(rec.public_key)
    return KeyState(
        key_id=pub.key_id,
        public_key=pub.raw,
        role=rec.role,
        owner=rec.owner,
        trusted_seq=seq,
        trusted_at=at,
        valid_from=parse_timestamp(rec.valid_from) if rec.valid_from else None,
        valid_until=parse_timestamp(rec.valid_until) if rec.valid_until else None,
    )


def apply_key_event(
    registry: Registry, record: AnyRecord, *, seq: int, at: dt.datetime
) -> KeyState | None:
    """Apply a key.trust / key.revoke record to ``registry``; other kinds are ignored.

    Raises:
        SignerError: if the event is not allowed (re-trusting, unknown key, last admin).
    """
    if isinstance(record, KeyTrustRecord):
        state = key_state_from_record(record, seq=seq, at=at)
        registry.trust(state)
        return state
    if isinstance(record, KeyRevokeRecord):
        return registry.revoke(record.key_id, seq=seq, at=at, reason=record.reason)
    return None


class GenesisError(ValueError):
    """Entry 0 is not the self-signed key.trust of an admin key."""


class KeyEventError(ValueError):
    """A key.trust / key.revoke entry that the registry refuses (re-trust, unknown key, last admin)."""


def replay_entry(
    registry: Registry, record: AnyRecord | None, *, seq: int, kind: str, keyids: Sequence[str], at: dt.datetime
) -> list[KeyState]:
    """The key-registry side of one stored entry, exactly as append judged it.

    Entry 0 trusts its own admin key before its signature is judged; every
    signer must be allowed to sign ``kind`` at ``at``; a key event then updates
    ``registry``. ``record`` may be None for kinds other than key events.
    Used by ``assure verify`` and by ``verify-package``, so both judge alike;
    neither checks the signature bytes here.

    Returns:
        The signers' keys, in signature order.

    Raises:
        GenesisError, KeyEventError, SignerError: saying why.
    """
    if seq == 0:
        if record is None or record.kind != "key.trust" or record.role != "admin":  # type: ignore[union-attr]
            raise GenesisError("entry 0 must be the genesis key.trust of an admin key")
        _replay_key_event(registry, record, seq=seq, at=at)
    signers = [registry.check_signer(k, kind=kind, at=at) for k in keyids]
    if seq != 0 and record is not None:
        _replay_key_event(registry, record, seq=seq, at=at)
    return signers


def _replay_key_event(registry: Registry, record: AnyRecord, *, seq: int, at: dt.datetime) -> None:
    try:
        apply_key_event(registry, record, seq=seq, at=at)
    except SignerError as e:
        raise KeyEventError(str(e)) from e


def node_reader(conn: Connection, *, around: tuple[int, int] | None = None) -> Callable[[int, int], bytes]:
    """A Merkle node reader over stored leaves (level 0) and tree nodes (level >= 1).

    Args:
        conn: an open connection.
        around: a range of leaf indexes ``(lo, hi)`` whose proofs will be asked
            for (e.g. a batch just appended): the nodes their audit paths need are
            read up front with one range query per level instead of one query per
            node. Nodes outside it are still read on demand.
    """
    cache: dict[tuple[int, int], bytes] = {}
    if around is not None:
        _prefetch(conn, cache, *around)

    def node(level: int, idx: int) -> bytes:
        hit = cache.get((level, idx))
        if hit is not None:
            return hit
        if level == 0:
            leaf = conn.execute(select(m.Entry.leaf).where(m.Entry.seq == idx)).scalar_one()
            value = leaf_hash(leaf)
        else:
            value = conn.execute(
                select(m.TreeNode.hash).where(
                    m.TreeNode.level == level, m.TreeNode.idx == idx  # type: ignore[arg-type]
                )
            ).scalar_one()
        cache[(level, idx)] = value
        return value

    return node


def _prefetch(conn: Connection, cache: dict[tuple[int, int], bytes], lo: int, hi: int) -> None:
    """Cache the leaf hashes and stored subtree hashes next to leaves ``lo..hi-1`` at every level."""
    if hi <= lo:
        return
    rows = conn.execute(
        select(m.Entry.seq, m.Entry.leaf).where(m.Entry.seq >= max(0, lo - 1), m.Entry.seq <= hi)  # type: ignore[operator]
    )
    cache.update(((0, seq), leaf_hash(leaf)) for seq, leaf in rows)
    for level in range(1, (hi - 1).bit_length() + 1):
        first, last = max(0, (lo >> level) - 1), ((hi - 1) >> level) + 1
        rows = conn.execute(
            select(m.TreeNode.idx, m.TreeNode.hash).where(
                m.TreeNode.level == level, m.TreeNode.idx >= first, m.TreeNode.idx <= last  # type: ignore[arg-type,operator]
            )
        )
        cache.update(((level, idx), h) for idx, h in rows)


class Ledger:
    """An evidence ledger in one database.

    Args:
        engine: a SQLAlchemy engine for a migrated database.
        control_exists: optional predicate for control ids; when given, records
            naming an unknown control are refused.
    """

    def __init__(
        self, engine: Engine, *, control_exists: Callable[[str], bool] | None = None
    ) -> None:
        self.engine = engine
        self.control_exists = control_exists

    # ------------------------------------------------------------------ reading

    def head(self) -> Head:
        """The current head.

        Raises:
            LedgerStateError: if the ledger is not initialised.
        """
        with read_transaction(self.engine) as conn:
            head = read_head(conn)
        if head is None:
            raise _not_initialised()
        return head

    def registry(self) -> Registry:
        """The key registry as currently projected.

        Raises:
            LedgerStateError: if the ledger is not initialised.
        """
        with read_transaction(self.engine) as conn:
            if read_head(conn) is None:
                raise _not_initialised()
            return load_registry(conn)

    def get(self, ref: str | int) -> StoredEntry:
        """One entry by sequence number or entry hash (hex, or a unique prefix of ≥ 8).

        Raises:
            NotFoundError: if there is no such entry.
        """
        stmt = select(
            m.Entry.seq, m.Entry.entry_hash, m.Entry.prev_hash, m.Entry.leaf,  # type: ignore[call-overload]
            m.Payload.payload_type, m.Payload.body,
        ).outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256)
        text = str(ref).strip().lower()
        if isinstance(ref, int) or text.isdigit():
            stmt = stmt.where(m.Entry.seq == int(text))
        else:
            if len(text) < 8 or any(c not in "0123456789abcdef" for c in text):
                raise NotFoundError(f"{ref!r} is neither a sequence number nor an entry hash")
            if len(text) == 64:
                stmt = stmt.where(m.Entry.entry_hash == bytes.fromhex(text))
            else:
                hits = self._seqs_with_hash_prefix(text)
                if len(hits) != 1:
                    why = "no entry" if not hits else f"{len(hits)} entries"
                    raise NotFoundError(f"{why} with hash prefix {text}")
                stmt = stmt.where(m.Entry.seq == hits[0])
        with read_transaction(self.engine) as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"no entry {ref}")
        return StoredEntry(*row)

    def _seqs_with_hash_prefix(self, prefix: str) -> list[int]:
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(m.Record.seq).where(m.Record.entry_hash.startswith(prefix)).limit(2)  # type: ignore[attr-defined]
            )
            return [r[0] for r in rows]

    def iter_records(
        self, *, kind: str | None = None, system: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Projected records in sequence order, optionally filtered."""
        stmt = select(m.Record).order_by(m.Record.seq)  # type: ignore[arg-type]
        if kind:
            stmt = stmt.where(m.Record.kind == kind)
        if system:
            stmt = stmt.where(m.Record.system == system)
        if limit:
            stmt = stmt.limit(limit)
        with read_transaction(self.engine) as conn:
            for row in conn.execute(stmt).mappings():
                yield dict(row)

    def inclusion_proofs(self, seqs: Sequence[int], *, size: int | None = None) -> tuple[int, list[list[bytes]]]:
        """Inclusion proofs for ``seqs`` against the tree of ``size`` (default: current).

        Returns:
            The tree size used and one proof per sequence number.
        """
        with read_transaction(self.engine) as conn:
            head = read_head(conn)
            if head is None:
                raise _not_initialised()
            size = head.size if size is None else size
            node = node_reader(conn)
            return size, [inclusion_proof(s, size, node) for s in seqs]

    # ---------------------------------------------------------------- appending

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
                item.signers = self._signers(item, overlay, now)
                self._queue_signatures(i, item, checks)
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

    @staticmethod
    def _signers(item: Prepared, registry: Registry, now: dt.datetime) -> tuple[KeyState, ...]:
        """The key of each signature, if each may sign this kind now (no crypto here).

        Raises:
            InputError: naming the signature: a key signing twice, unknown, revoked,
                outside its window or of a role that may not sign the kind.
        """
        keys: list[KeyState] = []
        for i, sig in enumerate(item.envelope.signatures):
            where = f"signatures[{i}]"
            if any(k.key_id == sig.keyid for k in keys):
                raise InputError("the same key signed twice", source=item.source, field=where)
            try:
                keys.append(registry.check_signer(sig.keyid, kind=item.record.kind, at=now))
            except SignerError as e:
                raise InputError(str(e), source=item.source, field=where) from e
        return tuple(keys)

    @staticmethod
    def _queue_signatures(index: int, item: Prepared, checks: DeferredChecks) -> None:
        message = pae(item.envelope.payload_type, item.envelope.payload)
        for i, (sig, key) in enumerate(zip(item.envelope.signatures, item.signers, strict=True)):
            checks.add(SignatureCheck(index, item.source, f"signatures[{i}]", sig.keyid, key.public_key, message, sig.sig))

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

    def append(
        self,
        docs: Sequence[Document],
        *,
        signing_key: PrivateKey | None = None,
        now: dt.datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
        parallel: bool = True,
    ) -> list[Appended]:
        """Append a batch of records/envelopes, all or nothing.

        ``progress(done, total)`` is called as documents are checked (every 1,000)
        and once more when all are, before the batch is written. With
        ``parallel`` (the default) a batch of ``PARALLEL_FROM`` or more records has
        its signatures and payload forms checked in a worker process.

        Raises:
            InputError: a bad record or signature (nothing written).
            DuplicateError: a record already in the ledger (nothing written).
            LedgerStateError: the ledger is not initialised.
        """
        if not docs:
            raise InputError("nothing to append")
        now = now or utcnow()
        registry = self.registry()  # raises if not initialised
        # The payload-form and signature checks of a large batch run in a worker while
        # this process validates and writes; the transaction commits only once they all passed.
        with gc_paused(), DeferredChecks(parallel=parallel and len(docs) >= PARALLEL_FROM) as checks:
            prepared = self._prepare_batch(docs, signing_key, now, registry.copy(), checks, progress)
            return self.commit(prepared, now=now, judged=registry, checks=checks)

    def commit(
        self, prepared: list[Prepared], *, now: dt.datetime, judged: Registry, checks: DeferredChecks | None = None
    ) -> list[Appended]:
        """Write a batch made by :meth:`prepare` (judged against ``judged``), all or nothing,
        retrying transient conflicts. Signers are re-checked if the registry has changed since.

        Args:
            checks: payload-form and signature checks still running for this batch; the
                write commits only if they pass (and a failed one is reported before any
                error found under the lock).

        Raises:
            InputError: a bad signature, a signer no longer allowed, or a dangling
                reference (nothing written).
            DuplicateError: a record already in the ledger (nothing written).
        """
        delay = 0.01
        for attempt in range(_RETRIES):
            try:
                with write_transaction(self.engine) as conn:
                    try:
                        out = self._commit(conn, prepared, now, judged)
                    finally:
                        # Before COMMIT; and a document's own checks (form, signatures) outrank
                        # what is found against the ledger under the lock, as in one process.
                        if checks is not None:
                            checks.raise_first_failure()
                    return out
            except SAIntegrityError as e:
                # A concurrent writer committed the same record first.
                if "idem_key" in str(e.orig) and attempt < _RETRIES - 1:
                    continue
                raise
            except OperationalError as e:
                if not _transient(e) or attempt == _RETRIES - 1:
                    raise
                log.info("append: transient database error, retrying: %s", e.orig)
                time.sleep(delay + secrets.randbelow(10) / 1000)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit(
        self, conn: Connection, prepared: list[Prepared], now: dt.datetime, judged: Registry | None
    ) -> list[Appended]:
        """Write a prepared batch under the head lock.

        ``judged`` is the registry :meth:`prepare` judged the signers against; if the
        registry under the lock is still the same, so are the judgements.
        """
        head = read_head(conn, lock=True)
        if head is None:
            raise _not_initialised()
        registry = load_registry(conn)
        unchanged = registry == judged
        existing = self._already_appended(conn, prepared)
        known = self._known_refs(conn, prepared)
        received = format_timestamp(now)
        frontier = head.frontier.copy()
        prev = head.last_hash
        batch = _Batch()
        out = []
        for i, item in enumerate(prepared):
            seq = head.size + i
            self._refuse_replay(item, existing)
            # Key status may have changed since prepare(): if so, re-check under the lock.
            signers = item.signers if unchanged or seq == 0 else self._signers(item, registry, now)
            self._check_refs(item, known)
            try:
                state = apply_key_event(registry, item.record, seq=seq, at=now)
            except SignerError as e:
                raise InputError(str(e), source=item.source) from e
            if seq == 0:  # genesis: the admin key.trust entry signs itself
                assert state is not None and state.role == "admin"
                signers = (state,)
            leaf = Leaf(
                origin=head.origin,
                seq=seq,
                kind=item.record.kind,
                payload_sha256=item.payload_sha256,
                payload_type=item.envelope.payload_type,
                signatures=item.envelope.signatures,
                idem_key=item.idem_key,
                received_at=received,
            ).to_bytes()
            h = entry_hash(prev, leaf)
            batch.entries.append(
                {"seq": seq, "entry_hash": h, "prev_hash": prev, "leaf": leaf,
                 "payload_sha256": item.payload_sha256, "idem_key": item.idem_key}
            )
            batch.payloads.append(
                {"sha256": item.payload_sha256, "payload_type": item.envelope.payload_type, "body": item.envelope.payload}
            )
            for level, idx, node in frontier.append(leaf_hash(leaf)):
                if level > 0:
                    batch.nodes.append({"level": level, "idx": idx, "hash": node})
            batch.records.append(projection_row(item.record, seq=seq, entry_hash=h, received_at=now, signer=signers[0]))
            batch.controls.extend(control_rows(item.record, seq=seq))
            if isinstance(item.record, KeyTrustRecord) and state is not None:
                batch.keys_new.append(state.__dict__)
            elif isinstance(item.record, KeyRevokeRecord) and state is not None:
                batch.keys_revoked.append(state)
            known.add(h.hex())
            if item.record.kind == "system":
                known.add("system:" + item.record.system)  # type: ignore[union-attr]
            prev = h
            out.append(Appended(seq, h.hex(), leaf, item.record.kind, item.record.__dict__.get("system"), item.source))
        _write_batch(conn, batch)
        conn.execute(
            update(m.LedgerHead)
            .where(m.LedgerHead.id == HEAD_ID)  # type: ignore[arg-type]
            .values(size=frontier.size, root=frontier.root(), last_hash=prev, frontier=frontier.to_bytes())
        )
        return out

    @staticmethod
    def _already_appended(conn: Connection, prepared: list[Prepared]) -> dict[str, int]:
        """The seq of each of the batch's idempotency keys the ledger holds already."""
        keys = [p.idem_key for p in prepared]
        existing: dict[str, int] = {}
        for chunk in _chunks(keys, 500):
            rows = conn.execute(select(m.Entry.idem_key, m.Entry.seq).where(m.Entry.idem_key.in_(chunk)))  # type: ignore[attr-defined]
            existing.update({k: s for k, s in rows})
        return existing

    @staticmethod
    def _refuse_replay(item: Prepared, existing: dict[str, int]) -> None:
        if item.idem_key in existing:
            raise DuplicateError(
                f"this record, signed by the same key(s), is already in the ledger as entry {existing[item.idem_key]} "
                "(replayed envelope)",
                source=item.source,
            )

    @staticmethod
    def _known_refs(conn: Connection, prepared: list[Prepared]) -> set[str]:
        targets = {t for p in prepared for t in _refs(p.record)}
        systems = {
            p.record.system  # type: ignore[union-attr]
            for p in prepared
            if p.record.kind not in KEY_KINDS and p.record.kind != "system"
        }
        known: set[str] = set()
        for chunk in _chunks(sorted(targets), 500):
            rows = conn.execute(select(m.Record.entry_hash).where(m.Record.entry_hash.in_(chunk)))  # type: ignore[attr-defined]
            known.update(r[0] for r in rows)
        for chunk in _chunks(sorted(systems), 500):
            rows = conn.execute(
                select(m.Record.system).where(m.Record.kind == "system", m.Record.system.in_(chunk)).distinct()  # type: ignore[union-attr]
            )
            known.update("system:" + r[0] for r in rows)
        return known

    @staticmethod
    def _check_refs(item: Prepared, known: set[str]) -> None:
        rec = item.record
        if rec.kind not in KEY_KINDS and rec.kind != "system":
            system = rec.system  # type: ignore[union-attr]
            if system != ORG_WIDE and "system:" + system not in known:
                raise InputError(
                    f"system {system!r} is not registered: append a 'system' record for it first",
                    source=item.source,
                    field="system",
                )
        for field_name in ("target", "supersedes"):
            ref = rec.__dict__.get(field_name)  # (a pydantic getattr miss is slow)
            if ref is not None and ref not in known:
                raise InputError(f"no entry with hash {ref}", source=item.source, field=field_name)


def sign_record(record: AnyRecord, key: PrivateKey, *, source: str = "record") -> Envelope:
    """Sign a validated record's canonical bytes into a DSSE envelope (what ``assure sign`` writes)."""
    return sign_envelope(PAYLOAD_TYPE, record_bytes(record, source=source), key)


def _refs(record: AnyRecord) -> list[str]:
    return [r for r in (record.__dict__.get("target"), record.supersedes) if r]


def _chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _transient(e: OperationalError) -> bool:
    text = str(e.orig).lower()
    return any(s in text for s in ("locked", "busy", "deadlock", "could not serialize", "serialization"))


def insert_raw(conn: Connection, table: Table, rows: list[dict[str, Any]], *, skip_existing: bool = False) -> None:
    """executemany straight through the driver, converting only what the dialect needs.

    These tables hold bytes, ints, text, booleans and datetimes; only datetimes
    need converting, and only on SQLite (to SQLAlchemy's stored text form, so
    queries through SQLAlchemy read them back). SQLAlchemy's general per-row
    parameter processing was most of the cost of an append's inserts.
    """
    if not rows:
        return
    columns = list(rows[0])
    dialect = conn.dialect
    converters = [
        (i, proc)
        for i, c in enumerate(columns)
        if _is_datetime(table.c[c].type)
        and (proc := table.c[c].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    values = list(map(itemgetter(*columns), rows)) if len(columns) > 1 else [(r[columns[0]],) for r in rows]
    if converters:
        memo: dict[Any, Any] = {}  # a batch shares its receive time and often its observed times
        values = [_convert(v, converters, memo) for v in values]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    if skip_existing:  # both backends; needs only the INSERT privilege
        sql += " ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(sql, values)


def _is_datetime(type_: TypeEngine[Any]) -> bool:
    # DateTime itself, or a decorator over it (SQLModel's UTCDateTime)
    return isinstance(type_, DateTime) or isinstance(getattr(type_, "impl_instance", None), DateTime)


def _convert(
    row: tuple[Any, ...], converters: list[tuple[int, Callable[[Any], Any]]], memo: dict[Any, Any]
) -> tuple[Any, ...]:
    out = list(row)
    for i, proc in converters:
        value = out[i]
        if value is not None:
            converted = memo.get(value)
            if converted is None:
                converted = memo[value] = proc(value)
            out[i] = converted
    return tuple(out)


def _write_batch(conn: Connection, batch: _Batch) -> None:
    # Identical content signed by different keys shares one payload row, maybe stored already.
    unique = list({r["sha256"]: r for r in batch.payloads}.values())
    insert_raw(conn, m.Payload.__table__, unique, skip_existing=True)  # type: ignore[attr-defined]
    insert_raw(conn, m.Entry.__table__, batch.entries)  # type: ignore[attr-defined]
    insert_raw(conn, m.TreeNode.__table__, batch.nodes)  # type: ignore[attr-defined]
    insert_raw(conn, m.Record.__table__, batch.records)  # type: ignore[attr-defined]
    insert_raw(conn, m.RecordControl.__table__, batch.controls)  # type: ignore[attr-defined]
    if batch.keys_new:
        conn.execute(insert(m.KeyRegistry), batch.keys_new)
    for k in batch.keys_revoked:
        conn.execute(
            update(m.KeyRegistry)
            .where(m.KeyRegistry.key_id == k.key_id)  # type: ignore[arg-type]
            .values(revoked_seq=k.revoked_seq, revoked_at=k.revoked_at, revoke_reason=k.revoke_reason)
        )


def _ts(value: str | None) -> dt.datetime | None:
    # Record timestamps are validated and normalised to RFC 3339 UTC "Z" already.
    return dt.datetime.fromisoformat(value) if value else None


#: Which record field the ``record.subtype`` projection column holds, per kind.
SUBTYPE_FIELD: dict[str, str] = {
    "evaluation": "suite",
    "document": "doc_type",
    "approval": "decision",
    "incident": "severity",
    "risk_assessment": "residual_risk",
    "system": "risk_tier",
    "key.trust": "role",
}


def projection_row(
    record: AnyRecord, *, seq: int, entry_hash: bytes, received_at: dt.datetime, signer: KeyState
) -> dict[str, Any]:
    """The ``record`` projection row for one entry."""
    kind = record.kind
    fields = record.__dict__  # a pydantic model's field values (getattr misses are slow)
    subtype = SUBTYPE_FIELD.get(kind)
    return {
        "seq": seq,
        "entry_hash": entry_hash.hex(),
        "kind": kind,
        "system": fields.get("system"),
        "observed_at": _ts(record.observed_at),
        "received_at": received_at,
        "valid_until": _ts(record.valid_until),
        "model_version": fields.get("version" if kind == "model_version" else "model_version"),
        "subtype": fields[subtype] if subtype else None,
        "passed": fields.get("passed"),
        "target": fields.get("target"),
        "supersedes": record.supersedes,
        "expires_at": _ts(fields.get("expires_at")),
        "signer_key_id": signer.key_id,
        "signer_role": signer.role,
    }


def control_rows(record: AnyRecord, *, seq: int) -> list[dict[str, Any]]:
    """The ``record_control`` projection rows for one entry."""
    relation = "excepted" if record.kind == "exception" else "evidence"
    compensating = record.__dict__.get("compensating_controls")
    if not compensating and len(record.controls) <= 1:
        return [{"seq": seq, "control_id": c, "relation": relation} for c in record.controls]
    rows = {(c, relation) for c in record.controls}
    rows |= {(c, "compensating") for c in compensating or ()}
    return [{"seq": seq, "control_id": c, "relation": r} for c, r in sorted(rows)]


def init_ledger(
    engine: Engine,
    admin_key: PrivateKey,
    *,
    owner: str = "ledger admin",
    origin: str | None = None,
    now: dt.datetime | None = None,
) -> InitResult:
    """Write the genesis entry (seq 0) trusting ``admin_key``; a no-op if already done.

    Raises:
        LedgerStateError: if the ledger was initialised with a different admin key.
    """
    now = now or utcnow()
    admin = admin_key.public
    with write_transaction(engine) as conn:
        head = read_head(conn, lock=True)
        if head is not None:
            first = conn.execute(select(m.KeyRegistry).where(m.KeyRegistry.trusted_seq == 0)).mappings().first()  # type: ignore[arg-type]
            if first is None or first["key_id"] != admin.key_id:
                raise LedgerStateError(
                    "this ledger is already initialised with another admin key "
                    f"({first['key_id'][:16] if first else '?'}…)"
                )
            genesis = conn.execute(select(m.Entry.entry_hash).where(m.Entry.seq == 0)).scalar_one()
            return InitResult(False, head.origin, admin.key_id, genesis.hex())
        origin = origin or f"assure/ledger/{secrets.token_hex(4)}"
        if not origin or len(origin) > 255 or any(c.isspace() or c == "+" for c in origin):
            raise InputError(
                "an origin is at most 255 characters with no spaces or '+', e.g. example.com/ai-evidence",
                field="origin",
            )
        record = parse_record(
            {
                "kind": "key.trust",
                "observed_at": format_timestamp(now),
                "public_key": admin.to_b64(),
                "role": "admin",
                "owner": owner,
                "notes": "genesis: the first admin key, trusted at 'assure init'",
            },
            source="genesis",
        )
        env = sign_record(record, admin_key, source="genesis")
        frontier = Frontier()
        conn.execute(
            insert(m.LedgerHead).values(
                id=HEAD_ID, origin=origin, size=0, root=frontier.root(),
                last_hash=GENESIS_PREV_HASH, frontier=frontier.to_bytes(),
            )
        )
        prepared = Prepared("genesis", env, record, hashlib.sha256(env.payload).hexdigest())
        out = Ledger(engine)._commit(conn, [prepared], now, judged=None)
    return InitResult(True, origin, admin.key_id, out[0].entry_hash)


def trust_key(
    ledger: Ledger,
    admin_key: PrivateKey,
    public_key: PublicKey,
    *,
    role: str,
    owner: str,
    valid_from: str | None = None,
    valid_until: str | None = None,
    now: dt.datetime | None = None,
) -> Appended:
    """Append a key.trust entry signed by ``admin_key``.

    Raises:
        InputError: if the role is unknown, the key is already known, or the
            admin key may not sign key events.
    """
    now = now or utcnow()
    record: dict[str, Any] = {
        "kind": "key.trust",
        "observed_at": format_timestamp(now),
        "public_key": public_key.to_b64(),
        "role": role,
        "owner": owner,
    }
    if valid_from:
        record["valid_from"] = valid_from
    if valid_until:
        record["valid_until"] = valid_until
    return ledger.append([Document("keys trust", record)], signing_key=admin_key, now=now)[0]


def revoke_key(
    ledger: Ledger, admin_key: PrivateKey, key_ref: str, *, reason: str, now: dt.datetime | None = None
) -> Appended:
    """Append a key.revoke entry for the key whose id is (or starts with) ``key_ref``.

    Raises:
        NotFoundError: if no key, or more than one, matches ``key_ref``.
    """
    now = now or utcnow()
    key = resolve_key(ledger.registry(), key_ref)
    record = {
        "kind": "key.revoke",
        "observed_at": format_timestamp(now),
        "key_id": key.key_id,
        "reason": reason,
    }
    return ledger.append([Document("keys revoke", record)], signing_key=admin_key, now=now)[0]


def resolve_key(registry: Registry, key_ref: str) -> KeyState:
    """The registry key whose id equals or starts with ``key_ref`` (at least 8 hex digits).

    Raises:
        NotFoundError: if none or several match.
    """
    ref = key_ref.strip().lower()
    hits = [k for k in registry if k.key_id.startswith(ref)] if len(ref) >= 8 else []
    if len(hits) != 1:
        why = "no key" if not hits else f"{len(hits)} keys"
        raise NotFoundError(f"{why} with id {key_ref!r} (give at least 8 hex digits; see 'assure keys list')")
    return hits[0]
