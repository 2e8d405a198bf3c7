"""Ledger entries: the canonical leaf, the entry hash chain and the Merkle leaf.

An entry's *leaf* is the RFC 8785 JSON of::

    {v, origin, seq, kind, payload_sha256, payload_type, signatures, idem_key, received_at}

It holds the payload's digest and signatures but not the payload, so a payload
can be redacted later with the entry still verifiable. ``origin`` and ``seq`` in
the leaf bind it to one ledger and one position. Two structures are built over
the leaves and ``assure verify`` recomputes both from stored bytes:

* the hash chain ``entry_hash = SHA-256("assure/entry/v1\\n" || prev_hash || leaf)``
  (``prev_hash`` of entry 0 is 32 zero bytes), the local, human-checkable link;
* the RFC 9162 Merkle tree over ``leaf_hash(leaf)``, which signed checkpoints,
  inclusion proofs and consistency proofs commit to. The tree stands alone: an
  inclusion proof needs only the leaf bytes, not the chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ledger.canonical import CanonicalError, parse_json
from ledger.canonical import encode_json_string as _esc
from ledger.dsse import Signature

LEAF_VERSION = 1
ENTRY_DOMAIN = b"assure/entry/v1\n"
GENESIS_PREV_HASH = bytes(32)
_LEAF_FIELDS = frozenset(
    {
        "v",
        "origin",
        "seq",
        "kind",
        "payload_sha256",
        "payload_type",
        "signatures",
        "idem_key",
        "received_at",
    }
)


def idempotency_key(payload_sha256: str, keyids: list[str] | tuple[str, ...]) -> str:
    """The replay key of a submission: the payload digest and the set of signing keys.

    The same signed record appended twice is a replay and is refused; the same
    record content signed by different keys (two approvers approving the same
    target with identical wording) is two distinct attestations.
    """
    text = "assure/idem/v1\n" + payload_sha256 + "\n" + ",".join(sorted(keyids))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def entry_hash(prev_hash: bytes, leaf: bytes) -> bytes:
    """The chain hash of an entry: SHA-256 over the domain tag, the previous hash and the leaf."""
    return hashlib.sha256(ENTRY_DOMAIN + prev_hash + leaf).digest()


@dataclass(frozen=True)
class Leaf:
    """The parsed content of a leaf."""

    origin: str
    seq: int
    kind: str
    payload_sha256: str
    payload_type: str
    signatures: tuple[Signature, ...]
    idem_key: str
    received_at: str

    def to_bytes(self) -> bytes:
        """The canonical (RFC 8785) leaf bytes, written out directly.

        A leaf holds only strings and two integers under fixed ASCII keys, so its
        canonical form is the members in this (sorted) order, each string escaped
        by the same function the canonical encoder uses; a hypothesis test checks
        the result against the ``rfc8785`` reference. It is built once per
        appended entry and once per verified entry, so it is kept fast.

        Raises:
            CanonicalError: if a string holds a lone surrogate (not UTF-8).
        """
        return leaf_bytes(self.origin, self.seq, self.kind, self.payload_sha256, self.payload_type, self.signatures,
                          self.idem_key, self.received_at)

    @classmethod
    def from_bytes(cls, data: bytes) -> Leaf:
        """Parse stored leaf bytes strictly; the bytes must already be canonical.

        Raises:
            ValueError: naming what is wrong with the leaf.
        """
        try:
            obj: Any = parse_json(data)
        except CanonicalError as e:
            raise ValueError(f"leaf is not valid JSON: {e}") from e
        if not isinstance(obj, dict) or set(obj) != _LEAF_FIELDS:
            raise ValueError("leaf does not have exactly the leaf fields")
        if obj["v"] != LEAF_VERSION:
            raise ValueError(f"unknown leaf version {obj['v']!r}")
        try:
            sigs = tuple(
                Signature(s["keyid"], base64.b64decode(s["sig"], validate=True))
                for s in obj["signatures"]
            )
        except (KeyError, TypeError, binascii.Error, ValueError) as e:
            raise ValueError("leaf signatures are malformed") from e
        str_fields = ("origin", "kind", "payload_sha256", "payload_type", "idem_key", "received_at")
        if not all(isinstance(obj[f], str) for f in str_fields) or type(obj["seq"]) is not int:
            raise ValueError("leaf field has the wrong type")
        leaf = cls(
            origin=obj["origin"],
            seq=obj["seq"],
            kind=obj["kind"],
            payload_sha256=obj["payload_sha256"],
            payload_type=obj["payload_type"],
            signatures=sigs,
            idem_key=obj["idem_key"],
            received_at=obj["received_at"],
        )
        if leaf.to_bytes() != data:
            raise ValueError("leaf bytes are not in canonical form")
        return leaf



_STR = r'[^"\\\x00-\x1f]*'  # a JSON string that canonical JSON writes verbatim
_B64 = r'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?'  # canonical only
_SIG_ITEM = r'\{"keyid":"' + _STR + r'","sig":"' + _B64 + r'"\}'
_LEAF_RE = re.compile(
    r'\{"idem_key":"(' + _STR + r')","kind":"(' + _STR + r')","origin":"(' + _STR + r')",'
    r'"payload_sha256":"(' + _STR + r')","payload_type":"(' + _STR + r')",'
    r'"received_at":"(' + _STR + r')","seq":(0|[1-9][0-9]{0,14}),'
    r'"signatures":\[((?:' + _SIG_ITEM + r'(?:,' + _SIG_ITEM + r')*)?)\],"v":1\}'
)
_SIG_RE = re.compile(r'\{"keyid":"(' + _STR + r')","sig":"([^"]*)"\}')


def parse_leaf(data: bytes) -> Leaf:
    """Parse stored leaf bytes with exactly the outcome of :meth:`Leaf.from_bytes`, faster.

    The usual leaf (strings without escapes, a seq below 10**15, canonical
    base64) is matched by one regular expression that accepts only text already
    in canonical form. Anything else goes to ``Leaf.from_bytes``, so every
    rejection reads the same.

    Raises:
        ValueError: naming what is wrong with the leaf.
    """
    try:
        match = _LEAF_RE.fullmatch(data.decode("utf-8"))
    except UnicodeDecodeError:
        match = None
    if match is None:
        return Leaf.from_bytes(data)
    idem, kind, origin, sha, ptype, received, seq, sigs = match.groups()
    signatures = tuple(Signature(keyid, binascii.a2b_base64(sig)) for keyid, sig in _SIG_RE.findall(sigs))
    return Leaf(origin, int(seq), kind, sha, ptype, signatures, idem, received)


def leaf_bytes(
    origin: str, seq: int, kind: str, payload_sha256: str, payload_type: str, signatures: tuple[Signature, ...],
    idem_key: str, received_at: str,
) -> bytes:
    """:meth:`Leaf.to_bytes` of a leaf with these fields, without making the :class:`Leaf` (an append
    makes one leaf per record).

    Raises:
        CanonicalError: if a string holds a lone surrogate (not UTF-8).
    """
    sigs = ",".join(
        f'{{"keyid":{_esc(s.keyid)},"sig":"{base64.b64encode(s.sig).decode("ascii")}"}}' for s in signatures
    )
    text = (
        f'{{"idem_key":{_esc(idem_key)},"kind":{_esc(kind)},"origin":{_esc(origin)},'
        f'"payload_sha256":{_esc(payload_sha256)},"payload_type":{_esc(payload_type)},'
        f'"received_at":{_esc(received_at)},"seq":{int(seq)},"signatures":[{sigs}],"v":{LEAF_VERSION}}}'
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CanonicalError(f"not representable as canonical JSON: {e}") from e
