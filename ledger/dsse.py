"""DSSE envelopes (secure-systems-lab/dsse v1.0.0) carrying signed records.

The signature covers ``PAE(payloadType, payload)``, the exact payload bytes: DSSE
avoids canonicalising the envelope, so verification always uses the bytes that
arrived, never a re-serialisation. ``keyid`` is a hint for finding the key and is
never trusted on its own: the caller looks the key up and checks the signature.

This module does not decide whether a key is trusted; see ``ledger.registry``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.errors import InputError

if TYPE_CHECKING:  # reading an envelope or a leaf needs no cryptography library
    from ledger.keys import PrivateKey


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``DSSEv1 SP len(type) SP type SP len(body) SP body``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    """One DSSE signature: the key id hint (hex SHA-256 of the raw key) and the bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope with its payload bytes kept opaque."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, Any]:
        """The standard DSSE JSON form."""
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }

    def to_text(self) -> str:
        """Pretty JSON text for files (whitespace does not matter: payload is base64)."""
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: Any, *, source: str = "envelope") -> Envelope:
        """Parse the DSSE JSON form.

        Raises:
            InputError: naming the bad field.
        """
        if not isinstance(data, dict):
            raise InputError("an envelope must be a JSON object", source=source)
        unknown = data.keys() - _ENVELOPE_FIELDS
        if unknown:
            raise InputError("unknown envelope field", source=source, field=min(unknown))
        ptype = data.get("payloadType")
        if not isinstance(ptype, str) or not ptype:
            raise InputError("missing or not a string", source=source, field="payloadType")
        payload = _b64(data.get("payload"), source=source, field="payload")
        sigs = data.get("signatures")
        if not isinstance(sigs, list) or not sigs:
            raise InputError("must be a non-empty list", source=source, field="signatures")
        parsed = []
        for i, s in enumerate(sigs):
            where = f"signatures[{i}]"
            if not isinstance(s, dict) or s.keys() - _SIGNATURE_FIELDS:
                raise InputError("must be an object with keyid and sig", source=source, field=where)
            keyid = s.get("keyid")
            if not isinstance(keyid, str) or len(keyid) != 64:
                raise InputError(
                    "must be the hex SHA-256 of the signing key", source=source, field=f"{where}.keyid"
                )
            parsed.append(Signature(keyid, _b64(s.get("sig"), source=source, field=f"{where}.sig")))
        return cls(ptype, payload, tuple(parsed))


_ENVELOPE_FIELDS = frozenset({"payloadType", "payload", "signatures"})
_SIGNATURE_FIELDS = frozenset({"keyid", "sig"})


def _b64(value: Any, *, source: str, field: str) -> bytes:
    if not isinstance(value, str):
        raise InputError("missing or not a base64 string", source=source, field=field)
    try:
        return binascii.a2b_base64(value, strict_mode=True)  # base64.b64decode(validate=True), minus its wrapper
    except (binascii.Error, ValueError) as e:
        raise InputError("not valid base64", source=source, field=field) from e


def sign_envelope(payload_type: str, payload: bytes, key: PrivateKey) -> Envelope:
    """Sign ``payload`` with ``key`` into a one-signature envelope."""
    sig = key.sign(pae(payload_type, payload))
    return Envelope(payload_type, payload, (Signature(key.public.key_id, sig),))


def is_envelope(data: Any) -> bool:
    """True if a parsed document looks like a DSSE envelope rather than a record."""
    return isinstance(data, dict) and "payloadType" in data and "kind" not in data
