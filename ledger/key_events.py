"""Key events: how ``key.trust`` / ``key.revoke`` entries build the key registry.

Append, ``assure verify`` and ``verify-package`` all judge signers by replaying
these events exactly as written here. This module holds no SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ledger.keys import PublicKey
from ledger.records import LEDGER_KINDS, AnyRecord, KeyRevokeRecord, KeyTrustRecord
from ledger.registry import KeyState, Registry, SignerError
from ledger.timeutil import parse_timestamp


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
        systems=tuple(rec.systems) if rec.systems is not None else None,
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
    registry: Registry, record: AnyRecord | None, *, seq: int, kind: str, keyids: Sequence[str], at: dt.datetime,
    system: str | None = None,
) -> list[KeyState]:
    """The key-registry side of one stored entry, exactly as append judged it.

    Entry 0 trusts its own admin key before its signature is judged; every
    signer must be allowed to sign ``kind`` at ``at``; a key event then updates
    ``registry``. ``record`` may be None for kinds other than key events, whose
    ``system`` is then given (keys scoped to systems are judged by it).
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
    if record is not None and kind not in LEDGER_KINDS:
        system = record.system  # type: ignore[union-attr]
    signers = [registry.check_signer(k, kind=kind, at=at, system=system) for k in keyids]
    if seq != 0 and record is not None:
        _replay_key_event(registry, record, seq=seq, at=at)
    return signers


def _replay_key_event(registry: Registry, record: AnyRecord, *, seq: int, at: dt.datetime) -> None:
    try:
        apply_key_event(registry, record, seq=seq, at=at)
    except SignerError as e:
        raise KeyEventError(str(e)) from e

