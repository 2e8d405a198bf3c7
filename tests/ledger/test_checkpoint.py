"""Tests for ledger.checkpoint: C2SP signed notes and tlog checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ledger.checkpoint import (
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointError,
    CheckpointFormatError,
    CheckpointOriginError,
    CheckpointSignatureError,
    NoteSignature,
    add_cosignature,
    note_key_id,
    open_checkpoint,
    parse_note,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    verify_note,
    vkey,
)
from ledger.errors import InputError, IntegrityError
from ledger.keys import PrivateKey, PublicKey, verify_signature
from ledger.merkle import EMPTY_ROOT, root_from_leaf_hashes

ORIGIN = "example.com/evidence-ledger/main"
LOG_KEY = PrivateKey(hashlib.sha256(b"log key").digest())
WITNESS_KEY = PrivateKey(hashlib.sha256(b"witness key").digest())
OTHER_KEY = PrivateKey(hashlib.sha256(b"other key").digest())
ROOT = root_from_leaf_hashes(
    [hashlib.sha256(b"\x00" + bytes([i])).digest() for i in range(7)]
)
CP = Checkpoint(ORIGIN, 7, ROOT)
TRUSTED = {ORIGIN: LOG_KEY.public}

# Vectors from golang.org/x/mod/sumdb/note (note_test.go), the reference
# implementation of signed notes: a key pair, a text and its signed note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY_DATA = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # base64(0x01 || seed)
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01"
    "oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# The example checkpoint of c2sp.org/tlog-checkpoint (its key is not published).
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URY"
    "N7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def signed(cp: Checkpoint = CP, key: PrivateKey = LOG_KEY, name: str = ORIGIN) -> str:
    return sign_checkpoint(cp, name=name, key=key)


# --------------------------------------------------------------------------------------
# Known answers


def test_go_reference_vectors():
    seed = base64.b64decode(GO_SKEY_DATA)
    assert seed[0] == 0x01 and len(seed) == 33
    key = PrivateKey(seed[1:])
    # vkey and key id
    assert vkey("PeterNeumann", key.public) == GO_VKEY
    assert note_key_id("PeterNeumann", key.public.raw).hex() == "c74f20a3"
    assert parse_vkey(GO_VKEY) == ("PeterNeumann", key.public)
    # signing reproduces the Go note byte for byte (Ed25519 is deterministic)
    note = GO_TEXT + "\n" + GO_PETER_SIG
    assert sign_note(GO_TEXT, name="PeterNeumann", key=key) == note
    # verification: one known key, one unknown signature ignored
    body, names = verify_note(note + GO_ENOCH_SIG, keys={"PeterNeumann": key.public})
    assert body == GO_TEXT.encode() and names == ["PeterNeumann"]
    enoch_name, enoch = parse_vkey(GO_ENOCH_VKEY)
    _, names = verify_note(
        note + GO_ENOCH_SIG, keys=[("PeterNeumann", key.public), (enoch_name, enoch)]
    )
    assert names == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(CheckpointSignatureError):  # only an unknown key signed
        verify_note(GO_TEXT + "\n" + GO_ENOCH_SIG, keys={"PeterNeumann": key.public})
    with pytest.raises(CheckpointSignatureError):  # Go's "invalid signature" case
        verify_note(
            GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:],
            keys={"PeterNeumann": key.public},
        )


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + GO_PETER_SIG).encode(),
        GO_TEXT + "\n" + "— Bad Name " + GO_PETER_SIG.split(" ")[2],
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + GO_PETER_SIG * (MAX_SIGNATURES + 1),
    ],
)
def test_go_reference_malformed_notes(note):
    with pytest.raises(CheckpointFormatError):
        parse_note(note)
    with pytest.raises(CheckpointFormatError):
        verify_note(note, keys={"PeterNeumann": parse_vkey(GO_VKEY)[1]})


def test_known_answer_spelled_out_with_hashlib():
    pub = LOG_KEY.public.raw
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + pub).digest()[:4]
    assert note_key_id(ORIGIN, pub) == key_id
    key_data = base64.b64encode(bytes([1]) + pub).decode()
    assert vkey(ORIGIN, LOG_KEY.public) == f"{ORIGIN}+{key_id.hex()}+{key_data}"

    body = f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode()}\n".encode()
    assert CP.body() == body
    sig = LOG_KEY.sign(body)
    expected = (
        body.decode()
        + "\n"
        + "\u2014 "
        + ORIGIN
        + " "
        + base64.b64encode(key_id + sig).decode()
        + "\n"
    )
    note = signed()
    assert note == expected
    assert note.splitlines()[4].startswith("\u2014 ")  # em dash, space

    parsed_body, sigs = parse_note(note)
    assert parsed_body == body
    assert sigs == [NoteSignature(ORIGIN, key_id, sig)]
    assert verify_signature(pub, body, sigs[0].signature)


def test_spec_example_checkpoint_parses_but_is_not_trusted():
    body, sigs = parse_note(SPEC_CHECKPOINT)
    cp = Checkpoint.from_body(body)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert (
        base64.b64encode(cp.root).decode()
        == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    )
    assert cp.body() == body
    assert [s.name for s in sigs] == ["example.com/behind-the-sofa"]
    with pytest.raises(CheckpointSignatureError, match="no signature by a trusted key"):
        open_checkpoint(
            SPEC_CHECKPOINT,
            origin=None,
            keys={"example.com/behind-the-sofa": LOG_KEY.public},
        )


# --------------------------------------------------------------------------------------
# Round trips


def test_round_trip():
    note = signed()
    assert open_checkpoint(note, origin=ORIGIN, keys=TRUSTED) == CP
    assert open_checkpoint(note, origin=None, keys=[(ORIGIN, LOG_KEY.public)]) == CP
    assert open_checkpoint(note.encode(), origin=ORIGIN, keys=TRUSTED) == CP


def test_empty_tree_and_large_size_round_trip():
    for cp in (Checkpoint(ORIGIN, 0, EMPTY_ROOT), Checkpoint(ORIGIN, 2**64 - 1, ROOT)):
        assert open_checkpoint(signed(cp), origin=ORIGIN, keys=TRUSTED) == cp


def test_extension_lines_preserved_and_signed():
    cp = Checkpoint(
        ORIGIN, 7, ROOT, ("ext one", "— looks like a signature but is body")
    )
    note = signed(cp)
    assert cp.body().endswith(
        b"ext one\n\xe2\x80\x94 looks like a signature but is body\n"
    )
    got = open_checkpoint(note, origin=ORIGIN, keys=TRUSTED)
    assert got == cp and got.extensions == cp.extensions
    dropped = note.replace("ext one\n", "")
    with pytest.raises(CheckpointSignatureError):
        open_checkpoint(dropped, origin=ORIGIN, keys=TRUSTED)


def test_body_with_empty_lines_splits_at_last_blank_line():
    note = sign_note("para one\n\npara two\n", name="n", key=OTHER_KEY)
    body, names = verify_note(note, keys={"n": OTHER_KEY.public})
    assert body == b"para one\n\npara two\n" and names == ["n"]


# --------------------------------------------------------------------------------------
# Tampering and wrong keys


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n7\n", "\n8\n"),  # size
        (
            base64.b64encode(ROOT).decode(),
            base64.b64encode(EMPTY_ROOT).decode(),
        ),  # root
        (ORIGIN + "\n", "example.com/evidence-ledger/other\n"),  # origin
    ],
)
def test_tampered_body_fails(old, new):
    note = signed()
    assert old in note
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        open_checkpoint(note.replace(old, new, 1), origin=None, keys=TRUSTED)


def test_wrong_key_and_unknown_keys():
    note = signed()
    # same name, another key: a different key id, so the signature is from an
    # unknown key and ignored; no trusted signature remains.
    with pytest.raises(CheckpointSignatureError, match="no signature by a trusted key"):
        open_checkpoint(note, origin=ORIGIN, keys={ORIGIN: OTHER_KEY.public})
    # another name, right key: also unknown
    with pytest.raises(CheckpointSignatureError):
        open_checkpoint(note, origin=ORIGIN, keys={"someone.else": LOG_KEY.public})
    # the signature of a different key, forged with the trusted key id: must verify
    forged_sig = OTHER_KEY.sign(CP.body())
    key_id = note_key_id(ORIGIN, LOG_KEY.public.raw)
    forged = (
        CP.body().decode() + "\n" + NoteSignature(ORIGIN, key_id, forged_sig).line()
    )
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        open_checkpoint(forged, origin=ORIGIN, keys=TRUSTED)
    # a bad signature from a trusted key rejects the note even if another verifies
    with pytest.raises(CheckpointSignatureError):
        open_checkpoint(
            note + forged.splitlines(keepends=True)[-1], origin=ORIGIN, keys=TRUSTED
        )


def test_unknown_key_only_is_rejected_and_unknown_signatures_ignored():
    only_other = signed(key=OTHER_KEY, name="witness.example/w1")
    with pytest.raises(CheckpointSignatureError):
        open_checkpoint(only_other, origin=ORIGIN, keys=TRUSTED)
    # unknown signature lines, even malformed-looking lengths, are ignored
    junk = NoteSignature("unknown.example", b"\x00\x01\x02\x03", b"x" * 2000).line()
    note = signed() + junk
    assert open_checkpoint(note, origin=ORIGIN, keys=TRUSTED) == CP
    note = CP.body().decode() + "\n" + junk + signed().split("\n\n")[1]
    assert open_checkpoint(note, origin=ORIGIN, keys=TRUSTED) == CP


def test_wrong_origin():
    note = signed()
    with pytest.raises(CheckpointOriginError) as e:
        open_checkpoint(note, origin="example.com/evidence-ledger/other", keys=TRUSTED)
    assert isinstance(e.value, IntegrityError) and e.value.exit_code == 1
    assert "example.com/evidence-ledger/other" in str(e.value)


def test_cosignatures_and_key_rotation():
    note = signed()
    cosigned = add_cosignature(note, name="witness.example/w1", key=WITNESS_KEY)
    assert cosigned.startswith(note) and cosigned.count("\n\u2014 ") == 2
    assert (
        add_cosignature(cosigned, name="witness.example/w1", key=WITNESS_KEY)
        == cosigned
    )
    # log only, witness only, both
    assert open_checkpoint(cosigned, origin=ORIGIN, keys=TRUSTED) == CP
    wkeys = {"witness.example/w1": WITNESS_KEY.public}
    assert open_checkpoint(cosigned, origin=ORIGIN, keys=wkeys) == CP
    _, names = verify_note(cosigned, keys={**TRUSTED, **wkeys})
    assert names == [ORIGIN, "witness.example/w1"]
    # rotation: same name, old and new key, verifiers holding either accept
    new_log_key = OTHER_KEY
    rotated = add_cosignature(note, name=ORIGIN, key=new_log_key)
    assert (
        open_checkpoint(rotated, origin=ORIGIN, keys={ORIGIN: new_log_key.public}) == CP
    )
    both = [(ORIGIN, LOG_KEY.public), (ORIGIN, new_log_key.public)]
    assert verify_note(rotated, keys=both)[1] == [ORIGIN]


def test_many_signatures_accepted():
    note = signed()
    keys = [
        PrivateKey(hashlib.sha256(b"w%d" % i).digest())
        for i in range(MAX_SIGNATURES - 1)
    ]
    for i, k in enumerate(keys):
        note = add_cosignature(note, name=f"witness.example/w{i}", key=k)
    assert len(parse_note(note)[1]) == MAX_SIGNATURES >= 16
    trusted = {
        **TRUSTED,
        **{f"witness.example/w{i}": k.public for i, k in enumerate(keys[:20])},
    }
    body, names = verify_note(note, keys=trusted)
    assert len(names) == 21 and Checkpoint.from_body(body) == CP
    with pytest.raises(CheckpointFormatError, match="already has"):
        add_cosignature(note, name="witness.example/one-too-many", key=OTHER_KEY)
    over = note + NoteSignature("x", b"\x00" * 4, b"\x00" * 64).line()
    with pytest.raises(CheckpointFormatError, match="more than"):
        parse_note(over)


# --------------------------------------------------------------------------------------
# Malformed notes


def _sig_line() -> str:
    return signed().split("\n\n")[1]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda n: n.replace("\n\n", "\n"), "no blank line"),
        (lambda n: n[:-1], "end with a newline"),
        (lambda n: n + "\n", "no signature lines"),
        (lambda n: n.replace("\u2014 ", "- "), "em dash"),
        (lambda n: n.replace("\u2014 ", "\u2014"), "em dash"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}"), "no space"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}  "), "base64"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", "\u2014  "), "non-empty"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", "\u2014 a+b "), "'\\+'"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", "\u2014 a\u00a0b "), "spaces"),
        (lambda n: n[:-3] + "\n", "base64"),  # truncated mid-quantum
        (lambda n: n[:-2] + "!\n", "base64"),
        (lambda n: n.replace("\n\n", "\n\n\u2014 x AAAA\n"), "too short"),
        (lambda n: n.replace("=\n", "\n").rstrip("\n") + "\n", "base64"),  # unpadded
        (lambda n: n.replace("\n", "\r\n"), "control character"),
        (lambda n: n.replace("\n7\n", "\n7\t\n"), "control character"),
        (lambda n: n + "\ud800", "UTF-8"),
    ],
)
def test_malformed_notes(mangle, message):
    note = mangle(signed())
    with pytest.raises(CheckpointFormatError, match=message):
        open_checkpoint(note, origin=ORIGIN, keys=TRUSTED)


def test_truncated_signature_that_is_still_base64():
    sig = parse_note(signed())[1][0]
    short = NoteSignature(sig.name, sig.key_id, sig.signature[:48])
    note = CP.body().decode() + "\n" + short.line()
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        open_checkpoint(note, origin=ORIGIN, keys=TRUSTED)


def test_non_canonical_base64_signature_rejected():
    line = _sig_line()
    encoded = line.rsplit(" ", 1)[1].rstrip("\n")
    assert encoded.endswith("=") and not encoded.endswith(
        "=="
    )  # 68 bytes: one pad char
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(encoded[-2])
    tweaked = encoded[:-2] + alphabet[last ^ 1] + "="  # sets a padding bit
    assert base64.b64decode(tweaked) == base64.b64decode(encoded)
    with pytest.raises(CheckpointFormatError, match="canonical"):
        parse_note(signed().replace(encoded, tweaked))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n7\n", "3 lines|2 lines"),
        ("\n7\nAAAA\n", "origin"),
        (f"{ORIGIN}\n07\n{base64.b64encode(ROOT).decode()}\n", "size"),
        (f"{ORIGIN}\n+7\n{base64.b64encode(ROOT).decode()}\n", "size"),
        (f"{ORIGIN}\n7 \n{base64.b64encode(ROOT).decode()}\n", "size"),
        (f"{ORIGIN}\n\u0667\n{base64.b64encode(ROOT).decode()}\n", "size"),  # Arabic 7
        (f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n", "size"),
        (f"{ORIGIN}\n1_0\n{base64.b64encode(ROOT).decode()}\n", "size"),
        (f"{ORIGIN}\n{2**64}\n{base64.b64encode(ROOT).decode()}\n", "size"),
        (f"{ORIGIN}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n", "root"),
        (f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode().rstrip('=')}\n", "root"),
        (
            f"{ORIGIN}\n7\n{base64.urlsafe_b64encode(bytes([255]) * 32).decode()}\n",
            "root",
        ),
        (
            f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode()}\n\next\n",
            "extension line 1 is empty",
        ),
    ],
)
def test_signed_but_malformed_checkpoint_bodies(body, message):
    note = sign_note(body, name=ORIGIN, key=LOG_KEY)
    with pytest.raises(CheckpointFormatError, match=message):
        open_checkpoint(note, origin=ORIGIN, keys=TRUSTED)


def test_body_is_not_parsed_before_signature_verification():
    note = sign_note(f"{ORIGIN}\n07\nAAAA\n", name=ORIGIN, key=OTHER_KEY)
    with pytest.raises(CheckpointSignatureError):
        open_checkpoint(note, origin=ORIGIN, keys=TRUSTED)


# --------------------------------------------------------------------------------------
# API validation and error classes


def test_checkpoint_validation():
    with pytest.raises(ValueError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(ValueError):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(ValueError):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(ValueError):
        Checkpoint(ORIGIN, 2**64, ROOT)
    with pytest.raises(TypeError):
        Checkpoint(ORIGIN, True, ROOT)
    with pytest.raises(ValueError):
        Checkpoint(ORIGIN, 1, ROOT[:31])
    with pytest.raises(ValueError):
        Checkpoint(ORIGIN, 1, ROOT, ("",))
    with pytest.raises(ValueError):
        Checkpoint(ORIGIN, 1, ROOT, ("a\nb",))
    assert Checkpoint(ORIGIN, 1, ROOT, ["x"]).extensions == ("x",)  # type: ignore[arg-type]


def test_key_name_and_key_validation():
    for bad in ("", "a b", "a+b", "a\tb", "a\u2003b"):
        with pytest.raises(ValueError):
            note_key_id(bad, LOG_KEY.public.raw)
        with pytest.raises(ValueError):
            sign_checkpoint(CP, name=bad, key=LOG_KEY)
    with pytest.raises(ValueError):
        note_key_id("a", b"\x00" * 31)
    with pytest.raises(CheckpointSignatureError, match="no trusted keys"):
        verify_note(signed(), keys={})
    with pytest.raises(CheckpointSignatureError, match="no trusted keys"):
        open_checkpoint(signed(), origin=ORIGIN, keys=[])
    with pytest.raises(TypeError):
        verify_note(signed(), keys={ORIGIN: LOG_KEY.public.raw})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        sign_note("no newline", name="a", key=LOG_KEY)
    with pytest.raises(ValueError):
        sign_note("ctl\x07\n", name="a", key=LOG_KEY)


@pytest.mark.parametrize(
    "bad",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        GO_VKEY.replace("+A", "+B", 1),
        GO_VKEY[:-1],
        "PeterNeumann+c74f20a3",
        "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        GO_VKEY.replace("c74f20a3", "C74F20A3"),
    ],
)
def test_parse_vkey_rejects_manglings(bad):
    with pytest.raises(ValueError):
        parse_vkey(bad)


def test_error_hierarchy():
    assert issubclass(CheckpointFormatError, InputError)
    assert issubclass(CheckpointFormatError, CheckpointError)
    assert issubclass(CheckpointSignatureError, IntegrityError)
    assert issubclass(CheckpointSignatureError, CheckpointError)
    assert CheckpointFormatError("x").exit_code == 2
    assert CheckpointSignatureError("x").exit_code == 1
    assert CheckpointOriginError("x").exit_code == 1
    err = CheckpointFormatError("is empty", field="origin")
    assert str(err) == "field 'origin': is empty"


def test_public_key_type_is_used():
    assert isinstance(parse_vkey(vkey(ORIGIN, LOG_KEY.public))[1], PublicKey)
