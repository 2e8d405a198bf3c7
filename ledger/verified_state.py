"""What a verifier keeps between runs, so the next run checks only the new entries.

A transparency-log monitor keeps the last checkpoint it verified and, next time,
checks that the log extends it and reads only what was added. ``assure verify
--state FILE`` does the same: after a successful run it writes, outside the
database, everything the checks of later entries depend on:

* the tree: size, root, the Merkle frontier (``popcount(size)`` subtree roots:
  enough to extend the tree and recompute the root) and the last entry hash;
* the clock: the last entry's ``received_at``;
* the key registry as the key events left it (who may sign what, from when);
* the cross-entry rules' state: which systems and model versions are registered
  (first seq), and each scope's count and last entry (for later scope indexes).

The next run starts from there: entry ``size`` must chain to ``last_hash``, the
tree extended by the new leaves must give the head's root, and every new entry
is checked exactly as a full run checks it. Its cost grows with the new entries,
not with the ledger. What it does not do is re-read the entries it verified
before: a database writer who rewrites an *old* entry without touching the head
is found by a full ``assure verify`` (and by the inclusion proofs of any package
or receipt carrying that entry), not by an incremental one. Keep the file where
the database's writers cannot write, like a trusted checkpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import InputError
from ledger.merkle import Frontier
from ledger.registry import KeyState, Registry
from ledger.scope_index import ScopeCounter, ScopeLeaf
from ledger.timeutil import format_timestamp, parse_timestamp

FORMAT = "assure-verified-state/1"


@dataclass
class VerifiedState:
    """The ledger as a verification left it (see the module docs)."""

    origin: str
    frontier: Frontier
    last_hash: bytes
    received_at: str | None
    registry: Registry
    systems: dict[str, int] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    scopes: ScopeCounter = field(default_factory=ScopeCounter)
    verified_at: str = ""

    @property
    def size(self) -> int:
        """Entries verified."""
        return self.frontier.size

    def to_json(self) -> dict[str, Any]:
        """The file's JSON form."""
        return {
            "format": FORMAT,
            "origin": self.origin,
            "size": self.size,
            "root": self.frontier.root().hex(),
            "frontier": [h.hex() for h in self.frontier.hashes],
            "last_hash": self.last_hash.hex(),
            "received_at": self.received_at,
            "verified_at": self.verified_at,
            "keys": [_key_json(k) for k in self.registry],
            "systems": self.systems,
            "versions": [[s, v, seq] for (s, v), seq in sorted(self.versions.items())],
            "scopes": [leaf.to_json() for leaf in self.scopes.leaves()],
        }

    def write(self, path: Path) -> None:
        """Write the file atomically (mode 0600: it is a trust anchor, like a checkpoint)."""
        from ledger.output_file import atomic_write

        atomic_write(str(path), (json.dumps(self.to_json(), indent=1) + "\n").encode(), mode=0o600)

    @classmethod
    def read(cls, path: Path) -> VerifiedState:
        """Read a state file.

        Raises:
            InputError: naming the file and the field, if it is not a state file this version reads.
        """
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError as e:
            raise InputError(f"no verified state at {path}", field="--state") from e
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: not a verified-state file: {e}", field="--state") from e
        try:
            return cls.from_json(data)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{path}: not a verified-state file ({FORMAT}): {e}", field="--state") from e

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerifiedState:
        """Parse the JSON form (raises KeyError, TypeError or ValueError naming what is wrong)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        frontier = Frontier(_int(data["size"], "size"), [bytes.fromhex(h) for h in data["frontier"]])
        if frontier.root().hex() != data["root"]:
            raise ValueError("'root' is not the root of 'frontier'")
        return cls(
            origin=str(data["origin"]),
            frontier=frontier,
            last_hash=bytes.fromhex(data["last_hash"]),
            received_at=data["received_at"],
            registry=Registry(_key_state(k) for k in data["keys"]),
            systems={str(s): _int(seq, "systems") for s, seq in data["systems"].items()},
            versions={(str(s), str(v)): _int(seq, "versions") for s, v, seq in data["versions"]},
            scopes=ScopeCounter(ScopeLeaf(str(x["scope"]), _int(x["count"], "scopes"), _int(x["last_seq"], "scopes"),
                                          str(x["last_entry_hash"])) for x in data["scopes"]),
            verified_at=str(data.get("verified_at", "")),
        )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{name}' holds {value!r}, not a whole number")
    return value


def _time(value: dt.datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


def _key_json(k: KeyState) -> dict[str, Any]:
    return {
        "key_id": k.key_id, "public_key": base64.b64encode(k.public_key).decode(), "role": k.role,
        "owner": k.owner, "trusted_seq": k.trusted_seq, "trusted_at": _time(k.trusted_at),
        "valid_from": _time(k.valid_from), "valid_until": _time(k.valid_until), "revoked_seq": k.revoked_seq,
        "revoked_at": _time(k.revoked_at), "revoke_reason": k.revoke_reason,
        "systems": list(k.systems) if k.systems is not None else None,
    }


def _key_state(d: dict[str, Any]) -> KeyState:
    def when(name: str) -> dt.datetime | None:
        return parse_timestamp(d[name]) if d.get(name) else None

    return KeyState(
        key_id=str(d["key_id"]), public_key=base64.b64decode(d["public_key"], validate=True), role=str(d["role"]),
        owner=str(d["owner"]), trusted_seq=_int(d["trusted_seq"], "trusted_seq"),
        trusted_at=parse_timestamp(d["trusted_at"]), valid_from=when("valid_from"), valid_until=when("valid_until"),
        revoked_seq=None if d.get("revoked_seq") is None else _int(d["revoked_seq"], "revoked_seq"),
        revoked_at=when("revoked_at"), revoke_reason=d.get("revoke_reason"),
        systems=tuple(d["systems"]) if d.get("systems") is not None else None,
    )
