"""The key registry: which keys may sign which record kinds, and when.

The registry is derived by replaying ``key.trust`` and ``key.revoke`` entries, so
it is itself tamper-evident. A signature counts only if, at the time the entry
was received, its key was trusted, not yet revoked, inside its validity window,
and of a role allowed for the record's kind (:data:`ROLE_KINDS`).

This module holds no database code: ``ledger.store`` loads and saves the state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ledger.timeutil import format_timestamp

ROLES = ("admin", "pipeline", "approver", "auditor")
"""Key roles, as ``key.trust`` records name them."""

ALL_EVIDENCE = ("model_version", "evaluation", "risk_assessment", "incident", "document")

#: Which roles may sign which kinds. Approvals need an approver (never the
#: submitter of what they approve; see controls/ for separation of duties).
ROLE_KINDS: dict[str, frozenset[str]] = {
    "admin": frozenset({"key.trust", "key.revoke", "scope_index", "system", "exception", "retract", *ALL_EVIDENCE}),
    "pipeline": frozenset({"retract", *ALL_EVIDENCE}),
    "approver": frozenset({"approval", "exception", "system", "retract", *ALL_EVIDENCE}),
    "auditor": frozenset({"document"}),
}


def roles_allowed(kind: str) -> list[str]:
    """The roles whose keys may sign records of ``kind``."""
    return sorted(role for role, kinds in ROLE_KINDS.items() if kind in kinds)


class SignerError(ValueError):
    """A signature's key is unknown, revoked, outside its window or of the wrong role."""


@dataclass(frozen=True)
class KeyState:
    """One key as the registry knows it."""

    key_id: str
    public_key: bytes
    role: str
    owner: str
    trusted_seq: int
    trusted_at: dt.datetime
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    revoked_seq: int | None = None
    revoked_at: dt.datetime | None = None
    revoke_reason: str | None = None
    systems: tuple[str, ...] | None = None
    """The systems the key may sign records of (None: any)."""

    def status(self, at: dt.datetime | None = None) -> str:
        """``active``, ``revoked``, ``expired`` or ``pending`` at time ``at`` (default: now)."""
        at = at or dt.datetime.now(dt.UTC)
        if self.revoked_seq is not None:
            return "revoked"
        if self.valid_until is not None and at > self.valid_until:
            return "expired"
        if self.valid_from is not None and at < self.valid_from:
            return "pending"
        return "active"


class Registry:
    """The set of keys, as of some point in the ledger."""

    def __init__(self, keys: Iterable[KeyState] = ()) -> None:
        self._keys: dict[str, KeyState] = {k.key_id: k for k in keys}

    def copy(self) -> Registry:
        """An independent copy (used as a batch overlay)."""
        return Registry(self._keys.values())

    def get(self, key_id: str) -> KeyState | None:
        """The key with this id, or None."""
        return self._keys.get(key_id)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._keys.values(), key=lambda k: k.trusted_seq))

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registry) and self._keys == other._keys

    __hash__ = None  # type: ignore[assignment]  # mutable

    def active_admins(self) -> list[KeyState]:
        """Unrevoked admin keys."""
        return [k for k in self._keys.values() if k.role == "admin" and k.revoked_seq is None]

    def check_signer(
        self, key_id: str, *, kind: str, at: dt.datetime, system: str | None = None, seq: int | None = None
    ) -> KeyState:
        """Return the key if it may sign a ``kind`` record received at ``at``.

        Args:
            key_id: the signature's key id.
            kind: the record's kind.
            at: when the entry is (or was) received.
            system: the record's system (None for key events); a key scoped to
                some systems may sign only their records, and no key events.
            seq: judge the entry at this sequence number against a registry that
                may hold later key events (a key trusted at or after ``seq`` is
                unknown to it, one revoked after ``seq`` still counts). None: the
                registry is as of the entry, as when appending or replaying.

        Raises:
            SignerError: saying why not.
        """
        key = self._keys.get(key_id)
        short = key_id[:16]
        if key is None or (seq is not None and key.trusted_seq >= seq):
            raise SignerError(f"key {short}… is not trusted in this ledger")
        if key.revoked_seq is not None and (seq is None or key.revoked_seq <= seq):
            raise SignerError(
                f"key {short}… ({key.owner}) was revoked at entry {key.revoked_seq}"
                + (f": {key.revoke_reason}" if key.revoke_reason else "")
            )
        if key.valid_from is not None and at < key.valid_from:
            raise SignerError(f"key {short}… is not valid before {format_timestamp(key.valid_from)}")
        if key.valid_until is not None and at > key.valid_until:
            raise SignerError(f"key {short}… expired at {format_timestamp(key.valid_until)}")
        if kind not in ROLE_KINDS.get(key.role, frozenset()):
            raise SignerError(
                f"key {short}… has role '{key.role}', which may not sign '{kind}' records "
                f"(allowed: {', '.join(roles_allowed(kind))})"
            )
        if key.systems is not None and (system is None or system not in key.systems):
            what = f"system {system!r}" if system is not None else "key events"
            raise SignerError(
                f"key {short}… ({key.owner}) is scoped to {', '.join(key.systems)} and may not sign {what}"
            )
        return key

    def trust(self, key: KeyState) -> None:
        """Add a key.

        Raises:
            SignerError: if the key is already known (revocation is final).
        """
        old = self._keys.get(key.key_id)
        if old is not None:
            state = "was revoked" if old.revoked_seq is not None else "is already trusted"
            raise SignerError(f"key {key.key_id[:16]}… {state} (entry {old.trusted_seq})")
        self._keys[key.key_id] = key

    def revoke(self, key_id: str, *, seq: int, at: dt.datetime, reason: str) -> KeyState:
        """Mark a key revoked from entry ``seq`` on.

        Raises:
            SignerError: if unknown, already revoked, or the last active admin key.
        """
        key = self._keys.get(key_id)
        if key is None:
            raise SignerError(f"key {key_id[:16]}… is not in the registry")
        if key.revoked_seq is not None:
            raise SignerError(f"key {key_id[:16]}… is already revoked (entry {key.revoked_seq})")
        if key.role == "admin" and len(self.active_admins()) == 1:
            raise SignerError("refusing to revoke the last active admin key; trust another first")
        new = replace(key, revoked_seq=seq, revoked_at=at, revoke_reason=reason)
        self._keys[key_id] = new
        return new
