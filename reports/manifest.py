"""``manifest.json``: the SHA-256 of every other file in a package, signed by the ledger key.

The manifest is a DSSE envelope (payload type :data:`MANIFEST_TYPE`) whose payload
is the RFC 8785 JSON of::

    {format, origin, system, as_of, checkpoint: {size, root}, files: {name: {sha256, size}},
     key: {id, public_key}, signed_at}

``key.id`` is the signing key's fingerprint (hex SHA-256 of the raw Ed25519
public key, the key id the ledger uses everywhere); it is what the PDF prints on
every page and what an auditor compares out of band. ``signed_at`` is the only
field that changes when the same package is built twice.

This module signs and parses; it does not decide whether the signing key is to
be trusted (see :mod:`reports.verify`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ledger.canonical import CanonicalError, canonical_json, parse_json
from ledger.dsse import Envelope, pae, sign_envelope
from ledger.errors import InputError
from ledger.keys import PrivateKey, PublicKey, verify_signature
from ledger.timeutil import format_timestamp
from reports.errors import BundleFormatError

MANIFEST_NAME = "manifest.json"
MANIFEST_TYPE = "application/vnd.assure.package-manifest+json"
MANIFEST_FORMAT = "assure-package-manifest/1"
_FIELDS = {"format", "origin", "system", "as_of", "checkpoint", "files", "key", "signed_at"}


@dataclass(frozen=True)
class Manifest:
    """What the manifest states.

    Attributes:
        origin: the ledger origin.
        system: the AI system.
        as_of: the package's as-of time (RFC 3339).
        checkpoint_size: the package checkpoint's tree size.
        checkpoint_root: its root (hex).
        files: ``{name: (sha256 hex, size)}`` for every other file in the zip.
        key: the signing key.
        signed_at: when it was signed (RFC 3339).
    """

    origin: str
    system: str
    as_of: str
    checkpoint_size: int
    checkpoint_root: str
    files: dict[str, tuple[str, int]]
    key: PublicKey
    signed_at: str

    def payload(self) -> bytes:
        """The canonical bytes that are signed."""
        return canonical_json({
            "format": MANIFEST_FORMAT,
            "origin": self.origin,
            "system": self.system,
            "as_of": self.as_of,
            "checkpoint": {"size": self.checkpoint_size, "root": self.checkpoint_root},
            "files": {n: {"sha256": h, "size": s} for n, (h, s) in sorted(self.files.items())},
            "key": {"id": self.key.key_id, "public_key": self.key.to_b64()},
            "signed_at": self.signed_at,
        })


def sign_manifest(manifest: Manifest, key: PrivateKey) -> bytes:
    """The bytes of ``manifest.json``: a pretty-printed DSSE envelope signed by ``key``.

    Raises:
        ValueError: if ``key`` is not the key the manifest names.
    """
    if key.public != manifest.key:
        raise ValueError("the manifest must name the key that signs it")
    env = sign_envelope(MANIFEST_TYPE, manifest.payload(), key)
    return env.to_text().encode("utf-8")


def manifest_time(now: dt.datetime) -> str:
    """The ``signed_at`` text for a moment (RFC 3339, UTC)."""
    return format_timestamp(now)


def open_manifest(data: bytes) -> tuple[Manifest, Envelope]:
    """Parse ``manifest.json`` and check its one signature against the key it names.

    Whether that key is the ledger's is for the caller to decide (pinning).

    Returns:
        The manifest and its envelope.

    Raises:
        BundleFormatError: if it is malformed, or its signature does not verify.
    """
    try:
        env = Envelope.from_json(parse_json(data), source=MANIFEST_NAME)
    except (CanonicalError, InputError) as e:
        raise BundleFormatError(f"not a signed manifest: {e}", where=MANIFEST_NAME) from e
    if env.payload_type != MANIFEST_TYPE:
        raise BundleFormatError(f"payloadType is {env.payload_type!r}, not {MANIFEST_TYPE!r}", where=MANIFEST_NAME)
    if len(env.signatures) != 1:
        raise BundleFormatError(f"has {len(env.signatures)} signatures; a manifest has one", where=MANIFEST_NAME)
    manifest = _parse_payload(env.payload)
    sig = env.signatures[0]
    if sig.keyid != manifest.key.key_id:
        raise BundleFormatError("its signature's keyid is not the key it names", where=MANIFEST_NAME)
    if not verify_signature(manifest.key.raw, pae(env.payload_type, env.payload), sig.sig):
        raise BundleFormatError("its signature does not verify: the manifest was altered", where=MANIFEST_NAME)
    return manifest, env


def _parse_payload(payload: bytes) -> Manifest:
    try:
        obj: Any = parse_json(payload)
    except CanonicalError as e:
        raise BundleFormatError(f"payload is not JSON: {e}", where=MANIFEST_NAME) from e
    try:
        if not isinstance(obj, dict) or set(obj) != _FIELDS or obj["format"] != MANIFEST_FORMAT:
            raise ValueError(f"payload is not a {MANIFEST_FORMAT} manifest")
        cp, key = obj["checkpoint"], obj["key"]
        files = {
            str(name): (str(v["sha256"]), int(v["size"]))
            for name, v in obj["files"].items()
        }
        manifest = Manifest(
            origin=str(obj["origin"]), system=str(obj["system"]), as_of=str(obj["as_of"]),
            checkpoint_size=int(cp["size"]), checkpoint_root=str(cp["root"]), files=files,
            key=PublicKey.from_b64(key["public_key"]), signed_at=str(obj["signed_at"]),
        )
        if key["id"] != manifest.key.key_id:
            raise ValueError("key.id is not the fingerprint of key.public_key")
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise BundleFormatError(str(e) if isinstance(e, ValueError) else f"malformed payload ({e!r})",
                                where=MANIFEST_NAME) from e
    return manifest


def describe(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain JSON (for ``--json`` output)."""
    return json.loads(manifest.payload())  # type: ignore[no-any-return]
