"""SQLModel tables: the ledger's storage and the projections derived from it.

Source of truth (append-only, verified by ``assure verify``):

* ``entry``: one row per ledger entry; ``leaf`` holds the exact canonical leaf
  bytes, ``entry_hash`` chains it to ``prev_hash``.
* ``payload``: the exact signed record bytes, addressed by SHA-256, kept apart
  from the entry so a payload could later be redacted with the entry still
  verifiable.

Derived (rebuilt by ``assure reindex``; never trusted for integrity):

* ``ledger_head``: the single row that serialises appenders (locked FOR UPDATE on
  PostgreSQL) and caches size, root and Merkle frontier.
* ``tree_node``: hashes of complete Merkle subtrees (level >= 1) for O(log n) proofs.
* ``checkpoint``: signed tree heads issued by ``assure checkpoint``.
* ``key_registry``, ``key_revocation``, ``record``, ``record_control``,
  ``entry_signer``: query projections, insert-only (a writer needs no UPDATE
  on them). Append judges signers by replaying the key events in the entries,
  never from ``key_registry`` rows.

No ``from __future__ import annotations`` here: it breaks SQLModel (fastapi/sqlmodel#196).
"""

import datetime as dt
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    Text,
)
from sqlmodel import Field, SQLModel

# Named constraints so batch migrations on SQLite can drop them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


class LedgerHead(SQLModel, table=True):
    """The one row that every appender locks: the ledger's identity and current head."""

    __tablename__ = "ledger_head"

    id: int = Field(primary_key=True)
    origin: str = Field(max_length=255)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    last_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    frontier: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Entry(SQLModel, table=True):
    """One ledger entry: the canonical leaf bytes and its place in the hash chain."""

    __tablename__ = "entry"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entry_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    prev_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    payload_sha256: str = Field(max_length=64)
    idem_key: str = Field(max_length=64, unique=True)


class Payload(SQLModel, table=True):
    """The exact signed bytes of a record, addressed by their SHA-256 (hex)."""

    __tablename__ = "payload"

    sha256: str = Field(primary_key=True, max_length=64)
    payload_type: str = Field(max_length=255)
    body: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class TreeNode(SQLModel, table=True):
    """The hash of a complete Merkle subtree: level k, index i covers leaves [i*2^k, (i+1)*2^k)."""

    __tablename__ = "tree_node"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Checkpoint(SQLModel, table=True):
    """A signed tree head (C2SP checkpoint note) issued for this ledger."""

    __tablename__ = "checkpoint"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime


class KeyRegistry(SQLModel, table=True):
    """Projection of key.trust / key.revoke entries: who may sign what, and when."""

    __tablename__ = "key_registry"

    key_id: str = Field(primary_key=True, max_length=64)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    role: str = Field(max_length=16)
    owner: str = Field(max_length=200)
    trusted_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    trusted_at: dt.datetime
    valid_from: Optional[dt.datetime] = None
    valid_until: Optional[dt.datetime] = None
    systems: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    """JSON list of the systems a scoped key may sign for; NULL: any."""


class KeyRevocation(SQLModel, table=True):
    """Projection of key.revoke entries (a row per revoked key, never updated)."""

    __tablename__ = "key_revocation"

    key_id: str = Field(primary_key=True, max_length=64)
    revoked_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: dt.datetime
    revoke_reason: str = Field(max_length=2000)


class EntrySigner(SQLModel, table=True):
    """Projection: every key that signed an entry, in signature order."""

    __tablename__ = "entry_signer"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    key_id: str = Field(max_length=64, index=True)


class Record(SQLModel, table=True):
    """Projection of each entry's record: the columns queries filter on."""

    __tablename__ = "record"
    __table_args__ = (
        # Serves lookups by (system, kind), and coverage's seek of the newest record per
        # (kind, subtype, model version); see controls.deciding.
        Index("ix_record_deciding", "system", "kind", "subtype", "model_version", "observed_at", "seq"),
        Index("ix_record_system_supersedes", "system", "supersedes"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entry_hash: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32, index=True)
    system: Optional[str] = Field(default=None, max_length=128)
    observed_at: dt.datetime
    received_at: dt.datetime
    valid_until: Optional[dt.datetime] = None
    model_version: Optional[str] = Field(default=None, max_length=128)
    subtype: Optional[str] = Field(default=None, max_length=128)
    passed: Optional[bool] = None
    target: Optional[str] = Field(default=None, max_length=64, index=True)
    supersedes: Optional[str] = Field(default=None, max_length=64)
    expires_at: Optional[dt.datetime] = None
    signer_key_id: str = Field(max_length=64)
    signer_role: str = Field(max_length=16)


class RecordControl(SQLModel, table=True):
    """Projection: which controls an entry names, and how (evidence, excepted, compensating)."""

    __tablename__ = "record_control"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    control_id: str = Field(primary_key=True, max_length=64)
    relation: str = Field(primary_key=True, max_length=16)


class ScopeSnapshot(SQLModel, table=True):
    """The scope index over entries ``0 … size-1`` (one row per scope), kept to build the next one
    incrementally; trusted only where a signed ``scope_index`` entry commits to the same root."""

    __tablename__ = "scope_snapshot"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    scope: str = Field(primary_key=True, max_length=128)
    count: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_entry_hash: str = Field(max_length=64)


class ApiToken(SQLModel, table=True):
    """A bearer token of the HTTP API (``assure serve``): outside the ledger, never hashed into it.

    Only the SHA-256 of the token is kept; the token itself is shown once, when made.
    """

    __tablename__ = "api_token"

    token_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: dt.datetime
    expires_at: Optional[dt.datetime] = None
    revoked_at: Optional[dt.datetime] = None
