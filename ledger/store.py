"""The ledger: initialise it, read entries and proofs, and append (see ``ledger.append``).

:class:`Ledger` is the one object callers hold: reading is here, appending in
:class:`ledger.append.Appending`. ``init_ledger``, ``trust_key`` and
``revoke_key`` are the administrative appends. This module does not verify
the stored ledger; see ``ledger.verify``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from ledger import models as m
from ledger.append import (
    Appended,
    Appending,
    Prepared,
    _commit,
    appended_seqs,
    sign_record,
)
from ledger.append_policy import AppendPolicy
from ledger.db import read_transaction, write_transaction
from ledger.entry import GENESIS_PREV_HASH
from ledger.entry_reads import StoredEntry, describe_entry, get_entry, iter_records
from ledger.errors import InputError, LedgerStateError, NotFoundError
from ledger.head import HEAD_ID, Head, node_reader, not_initialised, read_head
from ledger.ingest import Document
from ledger.keys import PrivateKey, PublicKey
from ledger.merkle import Frontier, inclusion_proof
from ledger.read_db import for_engine
from ledger.records import parse_record
from ledger.registry import KeyState, Registry
from ledger.timeutil import format_timestamp, utcnow
from ledger.trusted_keys import load_registry

__all__ = ["Appended", "Ledger", "Prepared", "StoredEntry", "init_ledger", "revoke_key", "sign_record", "trust_key"]


@dataclass
class InitResult:
    """Outcome of :func:`init_ledger`."""

    created: bool
    origin: str
    admin_key_id: str
    genesis_hash: str


class Ledger(Appending):
    """An evidence ledger in one database.

    Args:
        engine: a SQLAlchemy engine for a migrated database.
        control_exists: optional predicate for control ids; when given, records
            naming an unknown control are refused.
        policy: clock skew and exception limits append enforces.
    """

    def __init__(
        self, engine: Engine, *, control_exists: Callable[[str], bool] | None = None,
        policy: AppendPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.control_exists = control_exists
        self.policy = policy or AppendPolicy()

    # ------------------------------------------------------------------ reading

    def head(self) -> Head:
        """The current head.

        Raises:
            LedgerStateError: if the ledger is not initialised.
        """
        with read_transaction(self.engine) as conn:
            head = read_head(conn)
        if head is None:
            raise not_initialised()
        return head

    def registry(self) -> Registry:
        """The key registry, replayed from the ledger's key events.

        Raises:
            LedgerStateError: if the ledger is not initialised.
        """
        with read_transaction(self.engine) as conn:
            if read_head(conn) is None:
                raise not_initialised()
            return load_registry(conn)

    def get(self, ref: str | int) -> StoredEntry:
        """One entry by sequence number or entry hash (hex, or a unique prefix of ≥ 8).

        Raises:
            NotFoundError: if there is no such entry.
        """
        with for_engine(self.engine) as reader:
            return get_entry(reader, ref)

    def describe(self, ref: str | int) -> dict[str, Any]:
        """One entry as ``assure show --json`` prints it (:func:`ledger.entry_reads.describe_entry`).

        Raises:
            NotFoundError: if there is no such entry.
        """
        with for_engine(self.engine) as reader:
            return describe_entry(reader, ref)

    def iter_records(
        self, *, kind: str | None = None, system: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Projected records in sequence order, optionally filtered."""
        with for_engine(self.engine) as reader:
            yield from iter_records(reader, kind=kind, system=system, limit=limit)

    def appended_seqs(self, idem_keys: Sequence[str]) -> dict[str, int]:
        """The seq of each idempotency key (:attr:`Prepared.idem_key`) the ledger holds already:
        what :meth:`append` would refuse as a replay."""
        with read_transaction(self.engine) as conn:
            return appended_seqs(conn, idem_keys)

    def inclusion_proofs(self, seqs: Sequence[int], *, size: int | None = None) -> tuple[int, list[list[bytes]]]:
        """Inclusion proofs for ``seqs`` against the tree of ``size`` (default: current).

        Returns:
            The tree size used and one proof per sequence number.
        """
        with read_transaction(self.engine) as conn:
            head = read_head(conn)
            if head is None:
                raise not_initialised()
            size = head.size if size is None else size
            node = node_reader(conn)
            return size, [inclusion_proof(s, size, node) for s in seqs]


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
        out = _commit(conn, [prepared], now=now, judged=None, received=now, policy=AppendPolicy())
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
    systems: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> Appended:
    """Append a key.trust entry signed by ``admin_key``.

    Args:
        ledger: the ledger.
        admin_key: an admin key of the ledger.
        public_key: the key to trust.
        role: what it may sign (``ledger.registry.ROLE_KINDS``).
        owner: the person, team or pipeline holding it.
        valid_from: RFC 3339 time before which it may not sign.
        valid_until: RFC 3339 time after which it may not sign.
        systems: restrict it to records of these systems.
        now: the receive time (default: the clock, under the write lock).

    Raises:
        InputError: if the role is unknown, the key is already known, the
            window is empty or already over, or the admin key may not sign
            key events.
    """
    record: dict[str, Any] = {
        "kind": "key.trust",
        "observed_at": format_timestamp(now or utcnow()),
        "public_key": public_key.to_b64(),
        "role": role,
        "owner": owner,
    }
    if valid_from:
        record["valid_from"] = valid_from
    if valid_until:
        record["valid_until"] = valid_until
    if systems:
        record["systems"] = list(systems)
    return ledger.append([Document("keys trust", record)], signing_key=admin_key, now=now)[0]


def revoke_key(
    ledger: Ledger, admin_key: PrivateKey, key_ref: str, *, reason: str, now: dt.datetime | None = None
) -> Appended:
    """Append a key.revoke entry for the key whose id is (or starts with) ``key_ref``.

    Raises:
        NotFoundError: if no key, or more than one, matches ``key_ref``.
    """
    key = resolve_key(ledger.registry(), key_ref)
    record = {
        "kind": "key.revoke",
        "observed_at": format_timestamp(now or utcnow()),
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

