"""Evidence as coverage sees it, built from an entry's signed bytes, never from projections.

Coverage, the release gate and the audit package choose which entries to read
with the ``record`` projection (indexed SQL), but everything they decide on is
taken from the entry itself: the payload (whose SHA-256 must be the leaf's),
the leaf (whose hash must chain from the stored previous hash), and the signers
(the leaf's key ids judged against the registry the key events make, as of the
entry). An edited projection row therefore changes nothing a verdict depends
on; an entry that does not check out is an integrity failure. With
``verify_signatures`` (the gate and the package) every signature is verified
too, so a row inserted behind the ledger's back cannot pose as evidence.

This module reads no database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ledger.canonical import parse_json
from ledger.dsse import pae
from ledger.entry import entry_hash as chain_hash
from ledger.entry import parse_leaf
from ledger.errors import IntegrityError
from ledger.keys import verify_signature
from ledger.projection import projection_row
from ledger.records import LEDGER_KINDS
from ledger.registry import KeyState, Registry, SignerError
from ledger.timeutil import format_timestamp, parse_timestamp


@dataclass(frozen=True)
class Signer:
    """A key that signed a record, and whose it is."""

    key_id: str
    role: str
    owner: str


@dataclass(frozen=True)
class Evidence:
    """One ledger record as coverage sees it."""

    seq: int
    entry_hash: str
    kind: str
    system: str | None
    observed_at: dt.datetime
    received_at: dt.datetime
    valid_until: dt.datetime | None
    model_version: str | None
    passed: bool | None
    target: str | None
    supersedes: str | None
    expires_at: dt.datetime | None
    signers: tuple[Signer, ...]
    fields: dict[str, Any] = field(compare=False, repr=False)

    @property
    def signer_key_id(self) -> str:
        """The first signer's key id."""
        return self.signers[0].key_id

    @property
    def signer_role(self) -> str:
        """The first signer's role."""
        return self.signers[0].role

    @property
    def signer_owner(self) -> str:
        """The first signer's owner."""
        return self.signers[0].owner

    @property
    def signer_owners(self) -> frozenset[str]:
        """Every signer's owner."""
        return frozenset(s.owner for s in self.signers)

    @property
    def signer_key_ids(self) -> frozenset[str]:
        """Every signer's key id."""
        return frozenset(s.key_id for s in self.signers)

    @property
    def controls(self) -> list[str]:
        """The control ids the record names."""
        return list(self.fields.get("controls") or [])

    def ref(self) -> dict[str, Any]:
        """A short JSON reference: seq, hash, kind, when, who."""
        return {
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "kind": self.kind,
            "observed_at": format_timestamp(self.observed_at),
            "signer": ", ".join(s.owner for s in self.signers),
            "signer_role": self.signer_role,
        }


_COLUMNS = ("seq", "entry_hash", "kind", "system", "observed_at", "received_at", "valid_until", "model_version",
            "passed", "target", "supersedes", "expires_at")


def evidence_from_bytes(
    *, seq: int, entry_hash: bytes, prev_hash: bytes | None, leaf: bytes, payload: bytes | None,
    registry: Registry, verify_signatures: bool = False,
) -> Evidence:
    """An entry's record, from its stored bytes, checked against themselves and the key registry.

    Args:
        seq: the entry's sequence number.
        entry_hash: its stored chain hash.
        prev_hash: the stored previous hash (None: not checked, e.g. offline
            where the chain is proven otherwise).
        leaf: the stored leaf bytes.
        payload: the stored payload bytes (None if redacted).
        registry: the keys, as the ledger's key events make them (any later
            point will do: signers are judged as of ``seq``).
        verify_signatures: also verify every Ed25519 signature.

    Raises:
        IntegrityError: naming the entry and what does not check out.
    """
    def fail(why: str) -> IntegrityError:
        return IntegrityError(f"{why}: run 'assure verify'", seq=seq)

    memo_key = (seq, entry_hash, prev_hash, leaf, payload)
    known = None if verify_signatures else _MEMO.get(memo_key)
    if known is not None:
        parsed, system, at, signers, evidence = known
        try:
            keys = [registry.check_signer(s.keyid, kind=parsed.kind, at=at, system=system, seq=seq)
                    for s in parsed.signatures]
        except SignerError as e:
            raise fail(f"signed by a key not allowed to sign it ({e})") from e
        if keys == signers:
            return evidence
    try:
        parsed = parse_leaf(leaf)
    except ValueError as e:
        raise fail(f"leaf is malformed ({e})") from e
    if parsed.seq != seq or (prev_hash is not None and chain_hash(prev_hash, leaf) != entry_hash):
        raise fail("the entry does not match its hash")
    if payload is None or hashlib.sha256(payload).hexdigest() != parsed.payload_sha256:
        raise fail("the payload is missing or does not match its leaf")
    fields = parse_json(payload)
    if not isinstance(fields, dict) or fields.get("kind") != parsed.kind:
        raise fail("the payload's kind is not the leaf's")
    at = parse_timestamp(parsed.received_at)
    system = None if parsed.kind in LEDGER_KINDS else fields.get("system")
    try:
        keys = [registry.check_signer(s.keyid, kind=parsed.kind, at=at, system=system, seq=seq)
                for s in parsed.signatures]
    except SignerError as e:
        raise fail(f"signed by a key not allowed to sign it ({e})") from e
    if not keys:
        raise fail("the entry has no signatures")
    if verify_signatures:
        message = pae(parsed.payload_type, payload)
        if not all(verify_signature(k.public_key, message, s.sig) for k, s in zip(keys, parsed.signatures, strict=True)):
            raise fail("a signature does not verify")
    evidence = evidence_from_fields(seq=seq, entry_hash=entry_hash, fields=fields, received_at=at, signers=keys)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    _MEMO[memo_key] = (parsed, system, at, keys, evidence)
    return evidence


_MEMO: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""Evidence already built, keyed by every stored byte it was built from: the same bytes give the
same record, so a long-lived process (``assure serve``) parses each entry once. The signers are
judged against the registry on every call (a key revoked since still fails the call), and the
memo answers only when they come out the same. Never consulted with ``verify_signatures``."""
_MEMO_SIZE = 50_000


def evidence_from_fields(
    *, seq: int, entry_hash: bytes, fields: dict[str, Any], received_at: dt.datetime, signers: list[KeyState]
) -> Evidence:
    """An :class:`Evidence` from a record's (already verified) fields and signers."""
    row = projection_row(fields, seq=seq, entry_hash=entry_hash, received_at=received_at, signer=signers[0])
    return Evidence(
        *(row[c] for c in _COLUMNS),
        signers=tuple(Signer(k.key_id, k.role, k.owner) for k in signers),
        fields=fields,
    )
