"""Key files: mode 0600, passphrases, clear errors; signatures are plain Ed25519 (RFC 8032)."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.dsse import pae
from ledger.errors import InputError
from ledger.keys import PrivateKey, load_private_key, load_public_key, write_key_pair


def test_private_key_file_is_0600_and_round_trips(tmp_path) -> None:
    key = PrivateKey.generate()
    pub = write_key_pair(key, tmp_path / "k.pem")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert load_private_key(tmp_path / "k.pem").seed == key.seed
    assert load_public_key(pub).raw == key.public.raw
    assert key.seed.hex() not in repr(key)


def test_passphrase_protected_key(tmp_path) -> None:
    key = PrivateKey.generate()
    write_key_pair(key, tmp_path / "k.pem", passphrase=b"s3cret")
    assert b"ENCRYPTED" in (tmp_path / "k.pem").read_bytes()
    assert load_private_key(tmp_path / "k.pem", passphrase=b"s3cret").seed == key.seed
    with pytest.raises(InputError, match="encrypted: give its passphrase"):
        load_private_key(tmp_path / "k.pem")
    with pytest.raises(InputError, match="wrong passphrase"):
        load_private_key(tmp_path / "k.pem", passphrase=b"nope")


def test_refuses_to_overwrite_and_names_missing_files(tmp_path) -> None:
    write_key_pair(PrivateKey.generate(), tmp_path / "k.pem")
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_key_pair(PrivateKey.generate(), tmp_path / "k.pem")
    with pytest.raises(InputError, match=r"nope\.pem: no such file"):
        load_private_key(tmp_path / "nope.pem")
    with pytest.raises(InputError, match="private key; give the public key"):
        load_public_key(tmp_path / "k.pem")


def test_signature_interoperates_with_openssl() -> None:
    key = PrivateKey.generate()
    msg = pae("application/vnd.assure.record+json", b"{}")
    Ed25519PublicKey.from_public_bytes(key.public.raw).verify(key.sign(msg), msg)  # raises if not


def test_dsse_pae_test_vector() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
