"""Reading entries and their projected records: what ``assure log`` and ``assure show``
print, in plain SQL over a :class:`ledger.read_db.Reader`.

The same functions serve the library (:class:`ledger.store.Ledger`, the HTTP API)
through SQLAlchemy and the CLI through ``sqlite3`` on a SQLite file, so neither
the ORM tables nor the append path are imported to read. ``show`` reports the
stored bytes (leaf, payload) as they are; this module judges nothing, see
``ledger.verify``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.errors import NotFoundError
from ledger.read_db import BOOL, DATETIME, Reader

if TYPE_CHECKING:
    from ledger.dsse import Envelope
    from ledger.entry import Leaf

#: The ``record`` projection's columns, in the order ``assure log --json`` prints them,
#: with how SQLite's stored values are converted (see ledger.models.Record).
RECORD_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("seq", None), ("entry_hash", None), ("kind", None), ("system", None), ("observed_at", DATETIME),
    ("received_at", DATETIME), ("valid_until", DATETIME), ("model_version", None), ("subtype", None),
    ("passed", BOOL), ("target", None), ("supersedes", None), ("expires_at", DATETIME),
    ("signer_key_id", None), ("signer_role", None),
)


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
        from ledger.entry import Leaf

        return Leaf.from_bytes(self.leaf)

    def envelope(self) -> Envelope | None:
        """The DSSE envelope rebuilt from the stored payload and the leaf's signatures."""
        from ledger.dsse import Envelope

        if self.payload is None:
            return None
        leaf = self.parsed_leaf
        return Envelope(leaf.payload_type, self.payload, leaf.signatures)


def iter_records(
    reader: Reader, *, kind: str | None = None, system: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Projected records in sequence order, optionally filtered (``limit`` 0 or None: all)."""
    where, params = [], {}
    if kind:
        where.append("kind = :kind")
        params["kind"] = kind
    if system:
        where.append("system = :system")
        params["system"] = system
    sql = f"SELECT {', '.join(c for c, _ in RECORD_COLUMNS)} FROM record"
    sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    names = [c for c, _ in RECORD_COLUMNS]
    for row in reader.rows(sql, params, types=[t for _, t in RECORD_COLUMNS]):
        yield dict(zip(names, row, strict=True))


def get_entry(reader: Reader, ref: str | int) -> StoredEntry:
    """One entry by sequence number or entry hash (hex, or a unique prefix of ≥ 8).

    Raises:
        NotFoundError: if there is no such entry.
    """
    sql = ("SELECT entry.seq, entry.entry_hash, entry.prev_hash, entry.leaf, payload.payload_type, payload.body "
           "FROM entry LEFT OUTER JOIN payload ON payload.sha256 = entry.payload_sha256 WHERE ")
    text = str(ref).strip().lower()
    if isinstance(ref, int) or text.isdigit():
        rows = reader.rows(sql + "entry.seq = :seq", {"seq": int(text)})
    else:
        if len(text) < 8 or any(c not in "0123456789abcdef" for c in text):
            raise NotFoundError(f"{ref!r} is neither a sequence number nor an entry hash")
        if len(text) == 64:
            rows = reader.rows(sql + "entry.entry_hash = :hash", {"hash": bytes.fromhex(text)})
        else:
            # A range, not LIKE (case-insensitive on SQLite: no index, a scan of every record);
            # "g" sorts after every hex digit.
            hits = [r[0] for r in reader.rows(
                "SELECT seq FROM record WHERE entry_hash >= :lo AND entry_hash < :hi LIMIT 2",
                {"lo": text, "hi": text + "g"})]
            if len(hits) != 1:
                why = "no entry" if not hits else f"{len(hits)} entries"
                raise NotFoundError(f"{why} with hash prefix {text}")
            rows = reader.rows(sql + "entry.seq = :seq", {"seq": hits[0]})
    if not rows:
        raise NotFoundError(f"no entry {ref}")
    return StoredEntry(*rows[0])


def describe_entry(reader: Reader, ref: str | int) -> dict[str, Any]:
    """One entry as ``assure show --json`` prints it: hashes, receive time, signatures and
    the record (None if its payload was redacted).

    Raises:
        NotFoundError: if there is no such entry.
    """
    from ledger.canonical import parse_json
    from ledger.merkle import leaf_hash

    e = get_entry(reader, ref)
    leaf = e.parsed_leaf
    return {
        "seq": e.seq,
        "entry_hash": e.entry_hash.hex(),
        "prev_hash": e.prev_hash.hex(),
        "leaf_hash": leaf_hash(e.leaf).hex(),
        "received_at": leaf.received_at,
        "payload_sha256": leaf.payload_sha256,
        "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in leaf.signatures],
        "record": parse_json(e.payload) if e.payload is not None else None,
    }
