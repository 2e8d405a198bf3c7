"""Ed25519 keys: generation, PEM files, key ids, signing and verification.

Signing and verification go through libsodium (PyNaCl); the ``cryptography``
package only reads and writes PEM files. One implementation verifies every
signature, in the ledger and in ``verify-package``, so both accept exactly the
same signatures (libsodium rejects non-canonical and small-order encodings).
It is also about twice as fast as OpenSSL's Ed25519 verify here (see bench/).

This module never logs or stores private key material; the database only ever
sees public keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings
import nacl.exceptions
import nacl.signing

from ledger.errors import InputError

PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64


def key_id(public_key: bytes) -> str:
    """Return the key id: the hex SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """A raw Ed25519 public key."""

    raw: bytes

    @property
    def key_id(self) -> str:
        """The hex SHA-256 of the raw key."""
        return key_id(self.raw)

    def to_b64(self) -> str:
        """Standard base64 of the raw 32 bytes (the form stored in key.trust records)."""
        return base64.b64encode(self.raw).decode("ascii")

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        """Parse the base64 form; raises ValueError if it is not 32 bytes."""
        raw = base64.b64decode(text, validate=True)
        if len(raw) != PUBLIC_KEY_LEN:
            raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
        return cls(raw)

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return ed25519.Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return True if ``signature`` is a valid signature of ``message``."""
        return verify_signature(self.raw, message, signature)


@dataclass(frozen=True)
class PrivateKey:
    """An Ed25519 signing key (the 32-byte seed). ``repr`` never shows the seed."""

    seed: bytes

    def __repr__(self) -> str:
        return f"PrivateKey(key_id={self.public.key_id[:16]}…)"

    @classmethod
    def generate(cls) -> PrivateKey:
        """A fresh random key."""
        return cls(os.urandom(32))

    @property
    def public(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(bytes(nacl.signing.SigningKey(self.seed).verify_key))

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return nacl.signing.SigningKey(self.seed).sign(message).signature

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with the best available scheme if a passphrase is given."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        key = ed25519.Ed25519PrivateKey.from_private_bytes(self.seed)
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Verify one Ed25519 signature with libsodium; never raises for bad input.

    Calls libsodium's ``crypto_sign_open`` directly (what ``VerifyKey.verify``
    does, without building a key object per call). libsodium runs without the
    GIL, so threads can verify side by side with other Python work.
    """
    if len(public_key) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def write_key_pair(key: PrivateKey, path: Path, *, passphrase: bytes | None = None) -> Path:
    """Write the private key to ``path`` (mode 0600) and the public key to ``path.pub``.

    The private file is created with mode 0600 before any byte is written, so the
    key is never readable by others, even briefly. Refuses to overwrite.

    Returns:
        The path of the public key file.

    Raises:
        InputError: if either file already exists.
    """
    pub_path = path.with_name(path.name + ".pub")
    for p in (path, pub_path):
        if p.exists():
            raise InputError("already exists; refusing to overwrite a key", source=str(p))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.to_pem(passphrase))
    pub_path.write_bytes(key.public.to_pem())
    return pub_path


def load_private_key(path: Path, *, passphrase: bytes | None = None) -> PrivateKey:
    """Read an Ed25519 private key PEM (optionally passphrase-protected).

    Raises:
        InputError: naming the file, if it is missing, not an Ed25519 private key,
            encrypted without a passphrase given, or the passphrase is wrong.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as e:
        msg = (
            "key is encrypted: give its passphrase (--passphrase-env VAR)"
            if passphrase is None
            else "key is not encrypted but a passphrase was given"
        )
        raise InputError(msg, source=str(path)) from e
    except ValueError as e:
        reason = "wrong passphrase or not a PEM private key" if passphrase else (
            "not a PEM private key"
        )
        raise InputError(reason, source=str(path)) from e
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError("not an Ed25519 key", source=str(path))
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return PrivateKey(seed)


def load_public_key(path: Path) -> PublicKey:
    """Read an Ed25519 public key: SubjectPublicKeyInfo PEM, or a private key PEM.

    Raises:
        InputError: naming the file, if it holds no Ed25519 key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = _read(path)
    if b"PRIVATE KEY" in data:
        raise InputError("this is a private key; give the public key (.pub)", source=str(path))
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as e:
        raise InputError("not a PEM public key", source=str(path)) from e
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InputError("not an Ed25519 key", source=str(path))
    return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise InputError("no such file", source=str(path)) from e
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=str(path)) from e
