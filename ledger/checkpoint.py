"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes.

A checkpoint commits to a log's tree: its origin (the log's identity), its size
and its RFC 9162 root. This module formats checkpoints, signs them as notes with
Ed25519 (through :mod:`ledger.keys`, i.e. libsodium), adds cosignature lines,
parses notes strictly, and opens a note: verifies its signatures against keys
the caller trusts, then parses and returns the checkpoint.

Note format (c2sp.org/signed-note)::

    <text, ending in a newline>
    <one blank line>
    — <key name> <base64(4-byte key id || signature)>
    ...

Checkpoint text (c2sp.org/tlog-checkpoint): ``<origin>\\n<size>\\n<base64 root>\\n``
plus optional, non-empty extension lines.

What this module does not do: it does not decide which keys to trust, or for
which origin or period (the caller passes them in); it does not check that a
checkpoint is consistent with an earlier one or that its root matches any leaves
(see :mod:`ledger.merkle`); it does not implement witness timestamped
cosignatures (c2sp.org/tlog-cosignature, signature type 0x04) or any signature
type but Ed25519 (0x01); it never stores or logs private keys.

Errors: malformed text raises :class:`CheckpointFormatError` (an
:class:`~ledger.errors.InputError`, exit 2); a missing or bad signature raises
:class:`CheckpointSignatureError` and a wrong origin :class:`CheckpointOriginError`
(both :class:`~ledger.errors.IntegrityError`, exit 1). All derive from
:class:`CheckpointError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import AssureError, InputError, IntegrityError
from ledger.keys import PUBLIC_KEY_LEN, SIGNATURE_LEN, PrivateKey, PublicKey
from ledger.registry import Registry

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "KEY_ID_LEN",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIGNATURE_PREFIX",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointOriginError",
    "CheckpointSignatureError",
    "NoteSignature",
    "add_cosignature",
    "note_key_id",
    "open_checkpoint",
    "parse_note",
    "parse_vkey",
    "sign_checkpoint",
    "sign_note",
    "verify_note",
    "vkey",
]

ED25519_SIGNATURE_TYPE = 0x01
"""The signed-note signature type byte for Ed25519."""

KEY_ID_LEN = 4
"""Bytes of key id in front of every note signature."""

SIGNATURE_PREFIX = "\u2014 "
"""Every signature line starts with an em dash (U+2014) and a space."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (the spec requires at least 16)."""

MAX_NOTE_BYTES = 1_000_000
"""Largest note accepted, in UTF-8 bytes."""

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size a checkpoint may state."""

_ROOT_LEN = 32
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class CheckpointError(AssureError):
    """Base of every error raised by this module."""


class CheckpointFormatError(CheckpointError, InputError):
    """The note or checkpoint text is malformed (exit 2)."""


class CheckpointSignatureError(CheckpointError, IntegrityError):
    """No trusted signature verifies, or a trusted key's signature fails (exit 1)."""


class CheckpointOriginError(CheckpointError, IntegrityError):
    """A validly signed checkpoint is for another log than the one expected (exit 1)."""


# --------------------------------------------------------------------------------------
# Keys


def _check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid note key name, else raise ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError("a note key name must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise ValueError(
            f"note key name {name!r} must not contain spaces, '+' or control characters"
        )
    return name


def note_key_id(name: str, pub_raw: bytes) -> bytes:
    """Return the signed-note key id of an Ed25519 key.

    ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. It is a hint that
    selects the key to try, not an identity.

    Args:
        name: the key name, e.g. the log's origin.
        pub_raw: the raw 32-byte Ed25519 public key.

    Returns:
        The 4-byte key id.

    Raises:
        ValueError: if the name is not a valid key name or the key is not 32 bytes.
    """
    _check_key_name(name)
    if len(pub_raw) != PUBLIC_KEY_LEN:
        raise ValueError(
            f"an Ed25519 public key is {PUBLIC_KEY_LEN} bytes, not {len(pub_raw)}"
        )
    data = (
        name.encode("utf-8") + b"\n" + bytes([ED25519_SIGNATURE_TYPE]) + bytes(pub_raw)
    )
    return hashlib.sha256(data).digest()[:KEY_ID_LEN]


def vkey(name: str, pub: PublicKey) -> str:
    """Return the verifier key string ``name+<hex key id>+<base64(0x01 || key)>``.

    This is the text form Go's ``golang.org/x/mod/sumdb/note`` and the witness
    ecosystem use to configure trusted keys.

    Args:
        name: the key name.
        pub: the Ed25519 public key.

    Returns:
        The verifier key string.

    Raises:
        ValueError: if the name is not a valid key name.
    """
    key_id = note_key_id(name, pub.raw)
    encoded = base64.b64encode(bytes([ED25519_SIGNATURE_TYPE]) + pub.raw).decode(
        "ascii"
    )
    return f"{name}+{key_id.hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, PublicKey]:
    """Parse a verifier key string made by :func:`vkey`.

    Args:
        text: ``name+<8 hex digits>+<base64(0x01 || 32-byte key)>``.

    Returns:
        The key name and public key.

    Raises:
        ValueError: if the string is malformed, not Ed25519, or its key id does
            not match its name and key.
    """
    parts = text.split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise ValueError("a verifier key is name+<8 hex digits>+<base64 key>")
    name, hex_id, encoded = parts
    _check_key_name(name)
    key_data = _b64decode(encoded)
    if key_data is None or len(key_data) != 1 + PUBLIC_KEY_LEN:
        raise ValueError("the key part of a verifier key is base64 of 33 bytes")
    if key_data[0] != ED25519_SIGNATURE_TYPE:
        raise ValueError(f"verifier key type {key_data[0]:#04x} is not Ed25519 (0x01)")
    pub = PublicKey(key_data[1:])
    if note_key_id(name, pub.raw).hex() != hex_id:
        raise ValueError(
            f"verifier key id {hex_id} does not match name {name!r} and key"
        )
    return name, pub


# --------------------------------------------------------------------------------------
# Checkpoint bodies


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64 (canonical, padded); None if ``text`` is not that."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(data).decode("ascii") != text:  # non-zero padding bits
        return None
    return data


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and extension lines.

    Attributes:
        origin: the log identity, e.g. ``example.com/evidence-ledger/main``.
        size: the number of leaves in the tree.
        root: the 32-byte RFC 9162 root at ``size``.
        extensions: extra body lines (NOT RECOMMENDED by the spec), without newlines.

    Raises:
        TypeError: on construction, if the size is not an int.
        ValueError: on construction, if a field is invalid.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise ValueError("a checkpoint origin must be a non-empty string")
        if "\n" in self.origin or _CONTROL.search(self.origin):
            raise ValueError(
                "a checkpoint origin must not contain newlines or control characters"
            )
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise TypeError(
                f"a checkpoint size must be an int, not {type(self.size).__name__}"
            )
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"checkpoint size {self.size} is outside 0..2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != _ROOT_LEN:
            raise ValueError(f"a checkpoint root is {_ROOT_LEN} bytes")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in self.extensions:
            if not isinstance(line, str) or not line:
                raise ValueError("checkpoint extension lines must be non-empty strings")
            if "\n" in line or _CONTROL.search(line):
                raise ValueError(
                    "checkpoint extension lines must not contain newlines "
                    "or control characters"
                )

    def body(self) -> bytes:
        """Return the note text: ``origin\\nsize\\nbase64(root)\\n`` + extension lines.

        These are exactly the bytes the log signs.
        """
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def from_body(cls, body: bytes) -> Checkpoint:
        """Parse a checkpoint body (the text of a note whose signature was verified).

        Args:
            body: the note text, ending in a newline.

        Returns:
            The checkpoint.

        Raises:
            CheckpointFormatError: if the body is not a checkpoint: fewer than three
                lines, an empty line, a size that is not plain decimal without
                leading zeros, or a root that is not base64 of 32 bytes.
        """
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CheckpointFormatError("checkpoint is not valid UTF-8") from e
        if not text.endswith("\n"):
            raise CheckpointFormatError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointFormatError(
                f"checkpoint has {len(lines)} lines, needs origin, size and root"
            )
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointFormatError("is empty", field="origin")
        if _CONTROL.search(text):
            raise CheckpointFormatError("checkpoint contains control characters")
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointFormatError(
                f"{size_text!r} is not a decimal number without leading zeros",
                field="size",
            )
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise CheckpointFormatError(f"{size} is larger than 2**64-1", field="size")
        root = _b64decode(root_text)
        if root is None or len(root) != _ROOT_LEN:
            raise CheckpointFormatError(
                f"{root_text!r} is not the base64 of a {_ROOT_LEN}-byte hash",
                field="root",
            )
        for i, line in enumerate(extensions):
            if not line:
                raise CheckpointFormatError(f"extension line {i + 1} is empty")
        return cls(origin, size, root, tuple(extensions))


# --------------------------------------------------------------------------------------
# Signed notes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note, decoded (not verified).

    Attributes:
        name: the key name.
        key_id: the 4-byte key id.
        signature: the signature bytes after the key id.
    """

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the signature line, with its trailing newline."""
        encoded = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


def _note_text(note: str | bytes) -> str:
    """Return the note as str, checking UTF-8, size and control characters."""
    if not isinstance(note, (str, bytes)):
        raise TypeError(f"a note is str or bytes, not {type(note).__name__}")
    try:
        text = note if isinstance(note, str) else note.decode("utf-8")
        raw = text.encode("utf-8")  # a str may hold lone surrogates
    except UnicodeError as e:
        raise CheckpointFormatError(f"note is not valid UTF-8: {e}") from e
    if len(raw) > MAX_NOTE_BYTES:
        raise CheckpointFormatError(
            f"note is {len(raw)} bytes, more than {MAX_NOTE_BYTES}"
        )
    bad = _CONTROL.search(text)
    if bad:
        raise CheckpointFormatError(
            f"note contains control character {bad.group()!r} at offset {bad.start()}"
        )
    return text


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"signature line {number}"
    if not line.startswith(SIGNATURE_PREFIX):
        raise CheckpointFormatError(
            f"{where} does not start with an em dash and a space"
        )
    name, sep, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep:
        raise CheckpointFormatError(
            f"{where} has no space between key name and signature"
        )
    try:
        _check_key_name(name)
    except ValueError as e:
        raise CheckpointFormatError(f"{where}: {e}") from e
    data = _b64decode(encoded)
    if data is None:
        raise CheckpointFormatError(
            f"{where}: signature is not canonical standard base64"
        )
    if len(data) <= KEY_ID_LEN:
        raise CheckpointFormatError(
            f"{where}: signature is {len(data)} bytes, too short"
        )
    return NoteSignature(name, data[:KEY_ID_LEN], data[KEY_ID_LEN:])


def parse_note(text: str | bytes) -> tuple[bytes, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, strictly.

    The note must be valid UTF-8 without control characters other than newline;
    the text ends with a newline and is separated from the signatures by the last
    blank line; there are 1 to :data:`MAX_SIGNATURES` signature lines, each
    ``— <name> <base64(key id || signature)>`` and each ending in a newline.
    Nothing is verified.

    Args:
        text: the whole note.

    Returns:
        The note text (the signed bytes, including its final newline) and the
        decoded signature lines, in order.

    Raises:
        CheckpointFormatError: naming what is malformed.
    """
    note = _note_text(text)
    if not note.endswith("\n"):
        raise CheckpointFormatError("note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointFormatError(
            "note has no blank line between its text and signatures"
        )
    body, sig_block = note[: split + 1], note[split + 2 :]
    if not sig_block:
        raise CheckpointFormatError(
            "note has no signature lines after its last blank line"
        )
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointFormatError(
            f"note has {len(lines)} signature lines, more than {MAX_SIGNATURES}"
        )
    signatures = [_parse_signature_line(line, i + 1) for i, line in enumerate(lines)]
    return body.encode("utf-8"), signatures


def sign_note(text: str | bytes, *, name: str, key: PrivateKey) -> str:
    """Sign a note text with one Ed25519 key.

    Args:
        text: the note text; must be non-empty, end with a newline and contain no
            control characters other than newlines.
        name: the key name for the signature line.
        key: the signing key.

    Returns:
        The note: the text, a blank line and one signature line.

    Raises:
        ValueError: if the text or name is not valid for a note.
    """
    body = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    body_text = body.decode("utf-8")
    if not body_text.endswith("\n") or _CONTROL.search(body_text):
        raise ValueError(
            "note text must end with a newline and contain no control characters"
        )
    line = _signature(body, name=name, key=key).line()
    return body_text + "\n" + line


def _signature(body: bytes, *, name: str, key: PrivateKey) -> NoteSignature:
    _check_key_name(name)
    return NoteSignature(name, note_key_id(name, key.public.raw), key.sign(body))


def sign_checkpoint(cp: Checkpoint, *, name: str, key: PrivateKey) -> str:
    """Sign a checkpoint as a note.

    Args:
        cp: the checkpoint.
        name: the key name; the spec says it SHOULD be the origin.
        key: the log's signing key.

    Returns:
        ``cp.body()``, a blank line, then ``— <name> base64(key id || signature)``
        and a newline; the Ed25519 signature is over ``cp.body()`` exactly.

    Raises:
        ValueError: if the name is not a valid key name.
    """
    return sign_note(cp.body(), name=name, key=key)


def add_cosignature(note_text: str, *, name: str, key: PrivateKey) -> str:
    """Append a signature line by another key (a witness, or a new log key).

    The note is parsed strictly but its existing signatures are not verified:
    a cosigner must verify what it signs before calling this. Adding the same
    key's signature twice returns the note unchanged.

    Args:
        note_text: a signed note.
        name: the cosigner's key name.
        key: the cosigner's key.

    Returns:
        The note with one more signature line.

    Raises:
        CheckpointFormatError: if the note is malformed or already has
            :data:`MAX_SIGNATURES` signatures.
        ValueError: if the name is not a valid key name.
    """
    body, signatures = parse_note(note_text)
    sig = _signature(body, name=name, key=key)
    if sig in signatures:
        return note_text
    if len(signatures) >= MAX_SIGNATURES:
        raise CheckpointFormatError(f"note already has {MAX_SIGNATURES} signatures")
    return note_text + sig.line()


def _key_table(
    keys: Mapping[str, PublicKey] | Sequence[tuple[str, PublicKey]],
) -> dict[tuple[str, bytes], list[PublicKey]]:
    pairs = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
    if not pairs:
        raise CheckpointSignatureError("no trusted keys to verify the note against")
    table: dict[tuple[str, bytes], list[PublicKey]] = {}
    for name, pub in pairs:
        if not isinstance(pub, PublicKey):
            raise TypeError(
                f"trusted key {name!r} is a {type(pub).__name__}, not a PublicKey"
            )
        table.setdefault((name, note_key_id(name, pub.raw)), []).append(pub)
    return table


def verify_note(
    note_text: str | bytes,
    *,
    keys: Mapping[str, PublicKey] | Sequence[tuple[str, PublicKey]],
) -> tuple[bytes, list[str]]:
    """Verify a note's signatures against trusted keys.

    Signatures whose (name, key id) match no trusted key are ignored, as the spec
    requires. Every signature that does match a trusted key must verify: one
    failure rejects the whole note (the spec's SHOULD). At least one must verify.

    Args:
        note_text: the whole note.
        keys: the trusted keys, as ``{name: key}`` or ``[(name, key), ...]`` (a
            list allows several keys under one name, e.g. during rotation).

    Returns:
        The verified note text, and the names of the trusted keys whose
        signatures verified (each once, in note order).

    Raises:
        CheckpointFormatError: if the note is malformed.
        CheckpointSignatureError: if a trusted key's signature fails, no
            trusted key signed the note, or ``keys`` is empty.
        ValueError: if ``keys`` holds an invalid key name.
        TypeError: if ``keys`` holds something other than a PublicKey.
    """
    table = _key_table(keys)
    body, signatures = parse_note(note_text)
    verified: list[str] = []
    for number, sig in enumerate(signatures, 1):
        candidates = table.get((sig.name, sig.key_id))
        if candidates is None:
            continue
        if len(sig.signature) != SIGNATURE_LEN or not any(
            pub.verify(body, sig.signature) for pub in candidates
        ):
            raise CheckpointSignatureError(
                f"signature line {number} by trusted key {sig.name!r} "
                f"(id {sig.key_id.hex()}) does not verify"
            )
        if sig.name not in verified:
            verified.append(sig.name)
    if not verified:
        names = ", ".join(sorted({name for name, _ in table}))
        raise CheckpointSignatureError(
            f"note has no signature by a trusted key ({names})"
        )
    return body, verified


def open_checkpoint(
    note_text: str | bytes,
    *,
    origin: str | None,
    keys: Mapping[str, PublicKey] | Sequence[tuple[str, PublicKey]],
) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint.

    Order: parse the note strictly, verify signatures (:func:`verify_note`), only
    then parse the verified text as a checkpoint and check its origin. Size and
    root are only trustworthy from a checkpoint returned by this function.

    Args:
        note_text: the whole signed note.
        origin: the origin the checkpoint must have; None skips the check (only
            when the trusted keys alone pin the log).
        keys: the trusted keys, as for :func:`verify_note`.

    Returns:
        The verified checkpoint.

    Raises:
        CheckpointFormatError: if the note or the checkpoint text is malformed.
        CheckpointSignatureError: if no trusted signature verifies, one fails,
            or ``keys`` is empty.
        CheckpointOriginError: if the origin is not ``origin``.
        ValueError: if ``keys`` holds an invalid key name.
        TypeError: if ``keys`` holds something other than a PublicKey.
    """
    body, _ = verify_note(note_text, keys=keys)
    cp = Checkpoint.from_body(body)
    if origin is not None and cp.origin != origin:
        raise CheckpointOriginError(
            f"checkpoint origin {cp.origin!r} is not the expected {origin!r}"
        )
    return cp


def admin_note_keys(registry: Registry, origin: str) -> list[tuple[str, PublicKey]]:
    """Every admin key ever trusted, as (note key name, key) pairs for checkpoint notes."""
    return [(origin, PublicKey(k.public_key)) for k in registry if k.role == "admin"]
