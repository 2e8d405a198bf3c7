"""The key registry as the ledger's own key events make it: what append judges signers by.

The ``key_registry`` table is a projection for display; a database writer can
insert rows into it. Append, coverage and the release gate never read it:
they replay the ``key.trust`` / ``key.revoke`` entries themselves, checking
each one's chain hash, payload digest, signer standing and signature, so a
row added behind the ledger's back, or a key event whose bytes were altered,
changes nothing (it stops appends with an integrity error instead).

Key events are few, so replaying them is cheap; a process keeps the result
per database and extends it as new key events appear (the cache is keyed by
the events' entry hashes, so a rewritten event is replayed afresh).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.canonical import parse_json
from ledger.dsse import pae
from ledger.entry import Leaf, entry_hash
from ledger.errors import IntegrityError
from ledger.key_events import GenesisError, KeyEventError, replay_entry
from ledger.keys import verify_signature
from ledger.read_db import Reader, reader_of
from ledger.records import KEY_KINDS, parse_record
from ledger.registry import Registry, SignerError
from ledger.timeutil import parse_timestamp

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


@dataclass(frozen=True)
class _Replayed:
    events: tuple[tuple[int, bytes], ...]  # (seq, entry_hash) of each key event replayed
    registry: Registry


_CACHE: dict[str, _Replayed] = {}
# Plain SQL over a Reader: sqlite3 on a SQLite file, SQLAlchemy elsewhere (ledger.read_db).
_KEY_EVENTS = ("SELECT record.seq, entry.entry_hash FROM record JOIN entry ON entry.seq = record.seq "
               "WHERE record.kind IN :kinds ORDER BY record.seq")
_EVENT_ENTRIES = ("SELECT entry.seq, entry.prev_hash, entry.entry_hash, entry.leaf, payload.body FROM entry "
                  "LEFT OUTER JOIN payload ON payload.sha256 = entry.payload_sha256 "
                  "WHERE entry.seq IN :seqs ORDER BY entry.seq")
_LOCK = threading.Lock()


def load_registry(conn: Connection | Reader) -> Registry:
    """The registry as of the ledger's newest key event, replayed from the entries.

    Args:
        conn: a connection, or a :class:`ledger.read_db.Reader`, in an open transaction.

    Raises:
        IntegrityError: naming the first key event that does not check out
            (run ``assure verify``).
    """
    reader = reader_of(conn)
    events = tuple((seq, bytes(h)) for seq, h in reader.rows(_KEY_EVENTS, {"kinds": sorted(KEY_KINDS)}))
    key = reader.database
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and events[: len(cached.events)] == cached.events:
        done, registry = len(cached.events), cached.registry.copy()
    else:
        done, registry = 0, Registry()
    if done < len(events):
        _replay(reader, registry, [seq for seq, _ in events[done:]])
        with _LOCK:
            _CACHE[key] = _Replayed(events, registry.copy())
    return registry


def cached_registry(engine: Engine) -> Registry | None:
    """A copy of the registry this process last replayed for ``engine``'s database, without
    a query; None if there is none. It may be stale: use it only for a first judgement that
    a write transaction makes again with :func:`load_registry` under the head lock."""
    with _LOCK:
        cached = _CACHE.get(str(engine.url))
    return cached.registry.copy() if cached is not None else None


def _replay(reader: Reader, registry: Registry, seqs: list[int]) -> None:
    if seqs and seqs[0] != 0 and not len(registry):
        raise IntegrityError("the genesis entry is not a key event", seq=0)
    rows = reader.rows(_EVENT_ENTRIES, {"seqs": seqs})  # seqs is never empty here
    if [r[0] for r in rows] != seqs:
        missing = sorted(set(seqs) - {r[0] for r in rows})
        raise IntegrityError("a key event's entry is missing: run 'assure verify'", seq=missing[0] if missing else None)
    for seq, prev, ehash, leaf_bytes, body in rows:
        _replay_one(registry, seq, bytes(prev), bytes(ehash), bytes(leaf_bytes), None if body is None else bytes(body))


def _replay_one(registry: Registry, seq: int, prev: bytes, ehash: bytes, leaf_bytes: bytes, body: bytes | None) -> None:
    def fail(why: str) -> IntegrityError:
        return IntegrityError(f"key event {why}: run 'assure verify'", seq=seq)

    try:
        leaf = Leaf.from_bytes(leaf_bytes)
    except ValueError as e:
        raise fail(f"leaf is malformed ({e})") from e
    if entry_hash(prev, leaf_bytes) != ehash or leaf.seq != seq:
        raise fail("does not match its entry hash")
    if body is None or hashlib.sha256(body).hexdigest() != leaf.payload_sha256:
        raise fail("payload does not match its leaf")
    try:
        record = parse_record(parse_json(body), source=f"entry {seq}")
    except Exception as e:
        raise fail(f"payload is invalid ({e})") from e
    if record.kind != leaf.kind or record.kind not in KEY_KINDS:
        raise fail("payload kind does not match its leaf")
    try:
        keys = replay_entry(registry, record, seq=seq, kind=leaf.kind,
                            keyids=[s.keyid for s in leaf.signatures], at=parse_timestamp(leaf.received_at))
    except (GenesisError, KeyEventError, SignerError, ValueError) as e:
        raise fail(f"is not allowed ({e})") from e
    message = pae(leaf.payload_type, body)
    if not leaf.signatures or not all(
        verify_signature(k.public_key, message, s.sig) for k, s in zip(keys, leaf.signatures, strict=True)
    ):
        raise fail("signature does not verify")
