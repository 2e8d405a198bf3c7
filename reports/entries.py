"""Check a bundle's entries against a checkpoint, offline, as ``assure verify`` would.

For every entry, in sequence order (the order of ledger-notes §2.7):

1. the leaf parses strictly, names the checkpoint's origin and the entry's own
   seq, and the entry hash recomputes from it (and chains to the previous
   entry when that one is in the bundle too);
2. ``leaf_hash(leaf)`` is included in the tree of the checkpoint's size and root,
   which the caller took from the *verified* checkpoint note;
3. the envelope carries exactly the leaf's payload type and signatures, and its
   payload has the leaf's SHA-256;
4. every signature verifies (libsodium, :func:`ledger.keys.verify_signature`,
   the same code the ledger uses) with a key that the key events replayed so far
   say was trusted, unrevoked, inside its validity window and of a role allowed
   for the kind at the entry's ``received_at``; key events are then applied.

Every problem becomes a :class:`~reports.errors.Finding` naming the entry; the
check goes on, so one report names everything that is wrong.

This module does not verify checkpoint notes or compute coverage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.dsse import pae
from ledger.entry import Leaf, entry_hash
from ledger.errors import InputError
from ledger.key_events import GenesisError, KeyEventError, replay_entry
from ledger.keys import verify_signature
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.records import AnyRecord, parse_record_bytes
from ledger.registry import KeyState, Registry, SignerError
from ledger.timeutil import parse_timestamp
from reports.bundle import BundleEntry
from reports.errors import Finding


@dataclass
class CheckedEntry:
    """What the check learnt about one entry that passed it.

    Attributes:
        entry: the bundle entry.
        leaf: its parsed leaf.
        record: its parsed, signed record.
        received_at: when the ledger received it (from the leaf).
        signers: the registry state of every signer at that time, in signature order.
    """

    entry: BundleEntry
    leaf: Leaf
    record: AnyRecord
    received_at: dt.datetime
    signers: tuple[KeyState, ...]

    @property
    def signer(self) -> KeyState:
        """The first signer."""
        return self.signers[0]


@dataclass
class EntryCheck:
    """The outcome of :func:`check_entries`.

    Attributes:
        checked: entries that passed every check, in sequence order.
        registry: the key registry after replaying every key event in the bundle.
        findings: everything that failed, in sequence order.
        signatures: signatures that verified.
        proofs: inclusion proofs that verified.
    """

    checked: list[CheckedEntry] = field(default_factory=list)
    registry: Registry = field(default_factory=Registry)
    findings: list[Finding] = field(default_factory=list)
    signatures: int = 0
    proofs: int = 0

    @property
    def ok(self) -> bool:
        """True if nothing failed."""
        return not self.findings


class _Bad(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_entries(
    entries: Sequence[BundleEntry], *, origin: str, size: int | None, root: bytes | None
) -> EntryCheck:
    """Check every entry (see the module docstring).

    Args:
        entries: the bundle's entries, which must be in increasing seq order.
        origin: the ledger origin every leaf must name.
        size: the tree size from the verified checkpoint (None: it did not verify,
            so inclusion proofs cannot be checked and each entry says so).
        root: the root from the verified checkpoint.

    Returns:
        The checked entries, the replayed registry and the findings.
    """
    out = EntryCheck()
    if not entries or entries[0].seq != 0:
        out.findings.append(Finding("entry 0", "the genesis entry is missing, so no signer can be checked"))
    previous: BundleEntry | None = None
    for entry in entries:
        where = f"entry {entry.seq}"
        if previous is not None and entry.seq <= previous.seq:
            out.findings.append(Finding(where, f"out of order or repeated (after entry {previous.seq})"))
            continue
        try:
            out.checked.append(_check_one(entry, previous, out, origin=origin, size=size, root=root))
        except _Bad as bad:
            out.findings.append(Finding(where, bad.reason))
        previous = entry
    return out


def _check_one(
    entry: BundleEntry, previous: BundleEntry | None, out: EntryCheck, *,
    origin: str, size: int | None, root: bytes | None,
) -> CheckedEntry:
    seq = entry.seq
    try:
        leaf = Leaf.from_bytes(entry.leaf)
    except ValueError as e:
        raise _Bad(f"leaf is malformed: {e}") from e
    if leaf.seq != seq:
        raise _Bad(f"its leaf says seq {leaf.seq}")
    if leaf.origin != origin:
        raise _Bad(f"its leaf names origin {leaf.origin!r}, not this ledger's {origin!r}")
    if entry_hash(entry.prev_hash, entry.leaf) != entry.entry_hash:
        raise _Bad("entry_hash does not match its leaf and prev_hash")
    if previous is not None and previous.seq == seq - 1 and entry.prev_hash != previous.entry_hash:
        raise _Bad(f"prev_hash does not match entry {seq - 1}'s hash (chain broken)")
    _check_inclusion(entry, size=size, root=root)
    out.proofs += 1
    env = entry.envelope
    if env.payload_type != leaf.payload_type:
        raise _Bad("the envelope's payloadType is not the one its leaf commits to")
    if env.signatures != leaf.signatures:
        raise _Bad("the envelope's signatures are not the ones its leaf commits to")
    if hashlib.sha256(env.payload).hexdigest() != leaf.payload_sha256:
        raise _Bad("the record (payload) does not match its leaf's payload_sha256: it was altered")
    try:
        received_at = parse_timestamp(leaf.received_at)
    except ValueError as e:
        raise _Bad(f"leaf received_at is invalid: {e}") from e
    try:
        record = parse_record_bytes(env.payload, source=f"entry {seq}")
    except InputError as e:
        raise _Bad(f"the record is invalid: {e}") from e
    if record.kind != leaf.kind:
        raise _Bad(f"the record's kind {record.kind!r} is not its leaf's kind {leaf.kind!r}")
    signers = _check_signatures(entry, leaf, record, received_at, out)
    return CheckedEntry(entry, leaf, record, received_at, signers)


def _check_inclusion(entry: BundleEntry, *, size: int | None, root: bytes | None) -> None:
    if size is None or root is None:
        raise _Bad("its inclusion proof cannot be checked: the checkpoint did not verify")
    if entry.seq >= size:
        raise _Bad(f"it is not in the checkpoint's tree of {size} entries")
    try:
        verify_inclusion(leaf_hash(entry.leaf), entry.seq, size, entry.inclusion_proof, root)
    except ProofError as e:
        raise _Bad(f"inclusion proof does not verify against the checkpoint: {e.reason}") from e


def _check_signatures(
    entry: BundleEntry, leaf: Leaf, record: AnyRecord, at: dt.datetime, out: EntryCheck
) -> tuple[KeyState, ...]:
    if entry.seq != 0 and not leaf.signatures:
        raise _Bad("it has no signatures")
    try:  # the same registry judgement as 'assure verify' (genesis, signer rights, key events)
        states = replay_entry(out.registry, record, seq=entry.seq, kind=leaf.kind,
                              keyids=[s.keyid for s in leaf.signatures], at=at)
    except GenesisError as e:
        raise _Bad(str(e)) from e
    except KeyEventError as e:
        raise _Bad(f"invalid key event: {e}") from e
    except SignerError as e:
        raise _Bad(f"signer not allowed when it was received ({leaf.received_at}): {e}") from e
    if not states:  # entry 0 with no signature: its self-trust was replayed first
        raise _Bad("it has no signatures")
    message = pae(leaf.payload_type, entry.envelope.payload)
    for sig, key in zip(leaf.signatures, states, strict=True):
        if not verify_signature(key.public_key, message, sig.sig):
            raise _Bad(f"signature by key {sig.keyid[:16]}… ({key.owner}) does not verify")
        out.signatures += 1
    return tuple(states)
