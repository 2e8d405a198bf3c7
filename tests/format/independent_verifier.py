"""An independent verifier of Assure ledgers and audit packages, written from docs/format.md alone.

It uses only the standard library and ``cryptography`` (Ed25519) and none of Assure's
code. ``verify_ledger`` checks a SQLite ledger (sections 1-5 and 7 of the document);
``verify_package`` checks an audit package zip (section 6). Both return a list of
problems, empty when everything verifies. Where the document left something open, the
assumption made is marked ``ASSUMPTION`` below.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import math
import re
import sqlite3
import sys
import zipfile
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RECORD_TYPE = "application/vnd.assure.record+json"
MANIFEST_TYPE = "application/vnd.assure.package-manifest+json"
LEAF_MEMBERS = {"v", "origin", "seq", "kind", "payload_sha256", "payload_type", "signatures",
                "idem_key", "received_at"}
_ALL = ["retract", "model_version", "evaluation", "risk_assessment", "incident", "document"]
MAY_SIGN = {
    "admin": {"key.trust", "key.revoke", "scope_index", "system", "exception", *_ALL},
    "pipeline": set(_ALL),
    "approver": {"approval", "exception", "system", *_ALL},
    "auditor": {"document"},
}
KEY_KINDS = {"key.trust", "key.revoke"}
ZERO = bytes(32)
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


class Problem(Exception):
    """A check that failed; the message says which."""


# ------------------------------------------------------------------ primitives


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _num(x: float) -> str:
    """An RFC 8785 number: ECMAScript's Number.prototype.toString of the double."""
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        raise Problem("non-finite number in JSON")
    if x == 0:
        return "0"
    sign, r = ("-" if x < 0 else ""), repr(abs(x))  # repr is the shortest round-trip digits
    mant, _, exp = r.partition("e")
    whole, _, frac = mant.partition(".")
    digits, point = (whole + frac), len(whole) + int(exp or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def canonical(v: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON of a parsed JSON value."""
    def enc(v: Any) -> str:
        if v is None or isinstance(v, bool):
            return json.dumps(v)
        if isinstance(v, int | float):
            return _num(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)  # escapes only " \ and controls, as JCS does
        if isinstance(v, list):
            return "[" + ",".join(enc(x) for x in v) + "]"
        if isinstance(v, dict):
            keys = sorted(v, key=lambda s: s.encode("utf-16-be"))  # JCS sorts by UTF-16 code units
            return "{" + ",".join(enc(k) + ":" + enc(v[k]) for k in keys) + "}"
        raise Problem(f"not a JSON value: {type(v).__name__}")
    return enc(v).encode("utf-8")


def parse_canonical(data: bytes, what: str) -> Any:
    """Parse JSON bytes that must already be canonical (re-encoding gives the same bytes)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Problem(f"{what} is not JSON: {e}") from None
    if canonical(value) != data:
        raise Problem(f"{what} is not canonical JSON")
    return value


def pae(ptype: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    t = ptype.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def ed25519_ok(raw: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def b64(s: Any, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise Problem(f"{what} is not base64") from None


def unhex(s: Any, what: str) -> bytes:
    if not isinstance(s, str) or s != s.lower():
        raise Problem(f"{what} is not lowercase hex")
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise Problem(f"{what} is not hex") from None


def ts(s: Any, what: str) -> dt.datetime:
    """A timestamp in the document's two forms (six fraction digits only when not zero)."""
    if not isinstance(s, str) or not TS.match(s) or s.endswith(".000000Z"):
        raise Problem(f"{what} is not a timestamp in the documented form: {s!r}")
    return dt.datetime.fromisoformat(s)


# ------------------------------------------------------------------ RFC 9162 Merkle tree


def mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 Merkle tree hash over leaf hashes."""
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:]))


def inclusion_ok(index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_ok(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and old == new
    if not proof:
        return False
    path = [old, *proof] if m & (m - 1) == 0 else list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = sha256(b"\x01" + c + fr), sha256(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


# ------------------------------------------------------------------ checkpoints (C2SP signed notes)


def check_note(note: str, origin: str, admins: list[bytes]) -> tuple[int, bytes]:
    """Parse and verify a checkpoint note; returns (size, root). One signature line by one of
    ``admins`` must verify. ASSUMPTION: lines by other keys are ignored, as C2SP allows."""
    text, sep, sigs = note.partition("\n\n")
    lines = text.split("\n")
    if not sep or len(lines) != 3 or not sigs.endswith("\n"):
        raise Problem("checkpoint note is not '<origin>\\n<size>\\n<root>\\n\\n<signatures>'")
    if lines[0] != origin:
        raise Problem(f"checkpoint origin {lines[0]!r} is not {origin!r}")
    if not lines[1].isdigit() or lines[1] != str(int(lines[1])):
        raise Problem("checkpoint size is not a decimal number")
    size, root = int(lines[1]), b64(lines[2], "checkpoint root")
    signed = (text + "\n").encode()
    by_hash = {sha256(origin.encode() + b"\n\x01" + raw)[:4]: raw for raw in admins}
    good = False
    for line in sigs[:-1].split("\n"):
        prefix = f"\u2014 {origin} "
        if not line.startswith(prefix):
            raise Problem(f"malformed checkpoint signature line {line!r}")
        blob = b64(line[len(prefix):], "checkpoint signature")
        raw = by_hash.get(blob[:4])
        if raw is not None:
            if not ed25519_ok(raw, blob[4:], signed):
                raise Problem(f"checkpoint of size {size}: signature does not verify")
            good = True
    if not good:
        raise Problem(f"checkpoint of size {size} is signed by no admin key of the ledger")
    return size, root


# ------------------------------------------------------------------ entries and keys


def check_entry(seq: int, leaf_bytes: bytes, origin: str | None, body: bytes | None) -> tuple[dict, dict | None]:
    """Section 2: the leaf's members and bytes, and (if present) the payload it binds.
    Returns the parsed leaf and record."""
    leaf = parse_canonical(leaf_bytes, "leaf")
    if not isinstance(leaf, dict) or set(leaf) != LEAF_MEMBERS:
        raise Problem(f"leaf members are not exactly {sorted(LEAF_MEMBERS)}")
    if type(leaf["v"]) is not int or leaf["v"] != 1 or type(leaf["seq"]) is not int or leaf["seq"] != seq or (origin is not None and leaf["origin"] != origin):
        raise Problem("leaf v, seq or origin is wrong")
    if leaf["payload_type"] != RECORD_TYPE:
        raise Problem(f"payload type {leaf['payload_type']!r}")
    ts(leaf["received_at"], "received_at")
    sigs = leaf["signatures"]
    if not isinstance(sigs, list) or not sigs or any(not isinstance(s, dict) or set(s) != {"keyid", "sig"}
                                                     for s in sigs):
        raise Problem("signatures must be a non-empty list of {keyid, sig}")
    ids = [s["keyid"] for s in sigs]
    if len(set(ids)) != len(ids):
        raise Problem("a key signs the entry twice")
    idem = "assure/idem/v1\n" + leaf["payload_sha256"] + "\n" + ",".join(sorted(ids))
    if leaf["idem_key"] != hashlib.sha256(idem.encode()).hexdigest():
        raise Problem("idem_key does not match")
    if body is None:
        return leaf, None  # ASSUMPTION: a redacted payload is reported by the caller
    if hashlib.sha256(body).hexdigest() != leaf["payload_sha256"]:
        raise Problem("payload does not hash to the leaf's payload_sha256")
    rec = parse_canonical(body, "payload")
    if not isinstance(rec, dict) or rec.get("kind") != leaf["kind"]:
        raise Problem("payload kind differs from the leaf's kind")
    return leaf, rec


def scope_of(rec: dict) -> str:
    """Section 5: the scope an entry counts under."""
    kind = rec["kind"]
    if kind in KEY_KINDS:
        return "keys"
    if kind == "scope_index":
        return "index"
    if not isinstance(rec.get("system"), str):
        raise Problem(f"a {kind} record carries no system")
    return rec["system"]


class KeyRing:
    """Section 3: key events replayed in seq order, and every signature checked against them."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}

    def live(self, kid: str, n: int) -> bool:
        """Trusted by an entry before ``n`` (or by entry 0 itself at 0) and not revoked before ``n``."""
        k = self.keys.get(kid)
        return (k is not None and (k["trusted"] < n or k["trusted"] == n == 0)
                and (k["revoked"] is None or k["revoked"] >= n))

    def admins_at(self, size: int) -> list[bytes]:
        """Raw admin keys live at tree size ``size`` (ASSUMPTION: for checkpoints and manifests)."""
        return [k["raw"] for kid, k in self.keys.items() if k["role"] == "admin" and self.live(kid, size)]

    def entry(self, seq: int, leaf: dict, rec: dict, body: bytes) -> None:
        kind, at = leaf["kind"], ts(leaf["received_at"], "received_at")
        if seq == 0:
            if kind != "key.trust" or rec.get("role") != "admin":
                raise Problem("entry 0 is not a key.trust of an admin key")
            self._trust(seq, rec, at)
        msg = pae(leaf["payload_type"], body)
        for s in leaf["signatures"]:
            kid = s["keyid"]
            if not self.live(kid, seq):
                raise Problem(f"signed by {kid[:12]}, not a trusted, unrevoked key at this entry")
            k = self.keys[kid]
            if (k["from"] and at < k["from"]) or (k["until"] and at > k["until"]):
                raise Problem(f"signed by {kid[:12]} outside its validity window")
            if kind not in MAY_SIGN[k["role"]]:
                raise Problem(f"a {k['role']} key may not sign {kind}")
            if k["systems"] and rec.get("system") not in k["systems"]:
                raise Problem(f"key {kid[:12]} is not scoped to this record's system")
            if not ed25519_ok(k["raw"], b64(s["sig"], "signature"), msg):
                raise Problem(f"signature by {kid[:12]} does not verify")
        if kind == "key.trust" and seq != 0:
            self._trust(seq, rec, at)
        elif kind == "key.revoke":
            kid = rec.get("key_id")
            k = self.keys.get(kid)
            if k is None or k["revoked"] is not None:
                raise Problem("key.revoke of an unknown or revoked key")
            if k["role"] == "admin" and not [x for i, x in self.keys.items()
                                             if i != kid and x["role"] == "admin" and x["revoked"] is None]:
                raise Problem("key.revoke of the last unrevoked admin key")
            k["revoked"] = seq

    def _trust(self, seq: int, rec: dict, at: dt.datetime) -> None:
        raw = b64(rec.get("public_key"), "public_key")
        if len(raw) != 32:
            raise Problem("public_key is not 32 bytes")
        kid = key_id(raw)
        if kid in self.keys:
            raise Problem("key.trust of a key trusted before")
        if rec.get("role") not in MAY_SIGN:
            raise Problem(f"unknown role {rec.get('role')!r}")
        until = ts(rec["valid_until"], "valid_until") if "valid_until" in rec else None
        if until is not None and until <= at:
            raise Problem("key.trust whose valid_until is at or before its entry")
        self.keys[kid] = {"raw": raw, "role": rec["role"], "systems": rec.get("systems") or [],
                          "from": ts(rec["valid_from"], "valid_from") if "valid_from" in rec else None,
                          "until": until, "trusted": seq, "revoked": None}


def index_root(counts: dict[str, list]) -> tuple[bytes, int]:
    """Section 5: the scope index root and leaf count over per-scope [count, last_seq, last_hash]."""
    scopes = {"*": [0, -1, ""]} | counts
    leaves = [canonical({"count": c, "last_entry_hash": h, "last_seq": s, "scope": name})
              for name, (c, s, h) in sorted(scopes.items())]
    return mth([sha256(b"\x00" + x) for x in leaves]), len(leaves)


# ------------------------------------------------------------------ the ledger


def _raw(v: Any) -> bytes:
    """A hash column: raw bytes (as stored on SQLite) or hex text."""
    return bytes.fromhex(v) if isinstance(v, str) else bytes(v)


def verify_ledger(sqlite_path: str) -> list[str]:
    """Every check of sections 1-5 on the ``entry``, ``payload`` and ``checkpoint`` tables."""
    problems: list[str] = []
    con = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT seq, entry_hash, prev_hash, leaf, payload_sha256, idem_key "
                           "FROM entry ORDER BY seq").fetchall()
        payloads = {s: (t, b) for s, t, b in con.execute("SELECT sha256, payload_type, body FROM payload")}
        checkpoints = con.execute("SELECT size, root, note FROM checkpoint ORDER BY size").fetchall()
    finally:
        con.close()
    ring, counts, leaf_hashes, prev, origin = KeyRing(), {}, [], ZERO, None
    for i, (seq, eh, ph, leaf_bytes, psha, idem) in enumerate(rows):
        leaf_bytes = bytes(leaf_bytes)
        leaf_hashes.append(sha256(b"\x00" + leaf_bytes))
        try:
            if seq != i:
                raise Problem(f"seq {seq} where {i} was expected (a gap)")
            chained, prev = _raw(ph) == prev, _raw(eh)
            if not chained:
                raise Problem("prev_hash is not the previous entry's entry_hash")
            if prev != sha256(b"assure/entry/v1\n" + _raw(ph) + leaf_bytes):
                raise Problem("entry_hash does not match")
            ptype, body = payloads.get(psha, (None, None))
            leaf, rec = check_entry(seq, leaf_bytes, origin, None if body is None else bytes(body))
            origin = origin or leaf["origin"]
            if psha != leaf["payload_sha256"] or idem != leaf["idem_key"]:
                raise Problem("payload_sha256 or idem_key column differs from the leaf")
            if rec is None:
                raise Problem("payload missing: signatures, key rules and scope cannot be checked")
            if ptype != leaf["payload_type"]:
                raise Problem("stored payload_type differs from the leaf's")
            if rec["kind"] == "scope_index":
                root, n = index_root(counts)
                if (rec.get("size"), rec.get("scopes"), rec.get("root")) != (seq, n, root.hex()):
                    raise Problem("scope_index record does not match the recomputed index")
            ring.entry(seq, leaf, rec, bytes(body))
            c = counts.setdefault(scope_of(rec), [0, -1, ""])
            c[:] = [c[0] + 1, seq, prev.hex()]
        except Problem as e:
            problems.append(f"entry {seq}: {e}")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            problems.append(f"entry {seq}: malformed: {type(e).__name__}: {e}")
    for size, root, note in checkpoints:
        try:
            if not 0 < size <= len(rows):
                raise Problem("is beyond the ledger")
            n, note_root = check_note(note, origin or "", ring.admins_at(size))
            if n != size or note_root != _raw(root) or note_root != mth(leaf_hashes[:size]):
                raise Problem("size or root does not match the entries")
        except Problem as e:
            problems.append(f"checkpoint {size}: {e}")
    return problems


# ------------------------------------------------------------------ the audit package


def verify_package(zip_path: str, pinned_key: bytes) -> list[str]:
    """Section 6: manifest, file hashes, checkpoint, every carried entry, and completeness."""
    try:
        return _verify_package(zip_path, pinned_key)
    except Problem as e:
        return [str(e)]
    except (KeyError, TypeError, ValueError, AttributeError, zipfile.BadZipFile) as e:
        return [f"malformed package: {type(e).__name__}: {e}"]


def _verify_package(zip_path: str, pinned_key: bytes) -> list[str]:
    problems: list[str] = []
    with open(zip_path, "rb") as f, zipfile.ZipFile(io.BytesIO(f.read())) as z:
        if sorted(z.namelist()) != ["audit.pdf", "bundle.json", "manifest.json"]:
            raise Problem(f"zip holds {z.namelist()}, not exactly the three files")
        files = {n: z.read(n) for n in z.namelist()}
    env = json.loads(files["manifest.json"])
    if env["payloadType"] != MANIFEST_TYPE or len(env["signatures"]) != 1:
        raise Problem("manifest is not a package-manifest envelope with exactly one signature")
    body = b64(env["payload"], "manifest payload")
    m = parse_canonical(body, "manifest payload")
    raw = b64(m["key"]["public_key"], "manifest key")
    sig = env["signatures"][0]
    if m["format"] != "assure-package-manifest/1" or m["key"]["id"] != key_id(raw) or sig["keyid"] != key_id(raw):
        raise Problem("manifest format or key id is wrong")
    if not ed25519_ok(raw, b64(sig["sig"], "manifest signature"), pae(MANIFEST_TYPE, body)):
        raise Problem("manifest signature does not verify")
    if raw != pinned_key:
        raise Problem("manifest is signed by a key other than the pinned one: not anchored")
    if set(m["files"]) != {"bundle.json", "audit.pdf"}:
        raise Problem("manifest files are not bundle.json and audit.pdf")
    for name, want in m["files"].items():
        if want != {"sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])}:
            problems.append(f"{name}: hash or size differs from the manifest")
    b = json.loads(files["bundle.json"])
    origin, system = m["origin"], m["system"]
    if (b["format"], b["origin"], b["scope"]["system"], b["scope"]["as_of"]) != (
            "assure-audit-bundle/2", origin, system, m["as_of"]):
        problems.append("bundle format, origin, system or as_of differs from the manifest")

    # Every carried entry, in seq order, with the key events replayed from the carried ones.
    entries = sorted(b["entries"], key=lambda e: e["seq"])
    seqs = [e["seq"] for e in entries]
    if b["scope"]["seqs"] != seqs or len(set(seqs)) != len(seqs) or [e["seq"] for e in b["entries"]] != seqs:
        problems.append("scope.seqs is not the carried entries' seqs, ascending")
    ring, carried, prev = KeyRing(), {}, None
    cp_note = b["checkpoint"]["note"]
    cp_size = int(cp_note.split("\n")[1])
    cp_root = b64(cp_note.split("\n")[2], "checkpoint root")
    for e in entries:
        seq = e["seq"]
        try:
            leaf_bytes, eh, ph = b64(e["leaf"], "leaf"), unhex(e["entry_hash"], "entry_hash"), unhex(
                e["prev_hash"], "prev_hash")
            if eh != sha256(b"assure/entry/v1\n" + ph + leaf_bytes) or (seq == 0 and ph != ZERO):
                raise Problem("entry_hash does not match")
            if prev is not None and prev[0] == seq - 1 and prev[1] != ph:
                raise Problem("prev_hash is not the previous entry's entry_hash")
            prev = (seq, eh)
            proof = [unhex(p, "proof") for p in e["inclusion_proof"]]
            if not inclusion_ok(seq, cp_size, sha256(b"\x00" + leaf_bytes), proof, cp_root):
                raise Problem("inclusion proof does not lead to the checkpoint")
            ev = e["envelope"]
            payload = b64(ev["payload"], "payload")
            leaf, rec = check_entry(seq, leaf_bytes, origin, payload)
            if ev["payloadType"] != leaf["payload_type"] or ev["signatures"] != leaf["signatures"]:
                raise Problem("envelope's payload type or signatures differ from the leaf's")
            ring.entry(seq, leaf, rec, payload)
            carried[seq] = (scope_of(rec), eh.hex(), rec)
        except Problem as ex:
            problems.append(f"entry {seq}: {ex}")

    # The checkpoints: the package's, the manifest's claim, and earlier ones with consistency proofs.
    try:
        check_note(cp_note, origin, ring.admins_at(cp_size))
        if m["checkpoint"] != {"size": cp_size, "root": cp_root.hex()}:
            raise Problem("manifest checkpoint differs from the bundle's")
        if raw not in ring.admins_at(cp_size):
            raise Problem("manifest key is not an admin key of the ledger")
        for c in b["consistency"]:
            n, root = check_note(c["note"], origin, ring.admins_at(c["size"]))
            if n != c["size"] or not consistency_ok(n, cp_size, root, cp_root, [unhex(p, "proof") for p in c["proof"]]):
                raise Problem(f"checkpoint {n} is not consistent with the package checkpoint")
    except Problem as ex:
        problems.append(f"checkpoint: {ex}")

    # Completeness (section 6 and 5).
    comp = b["completeness"]
    idx = comp["index_seq"]
    _, _, irec = carried.get(idx, (None, None, {}))
    if irec.get("kind") != "scope_index" or irec.get("size") != idx:
        return problems + [f"completeness: entry {idx} is not a carried scope_index of size {idx}"]
    named = {s["scope"] for s in comp["scopes"]}
    if named != {system, "*", "keys"} or len(comp["scopes"]) != 3:
        problems.append(f"completeness names scopes {sorted(named)}, not {system!r}, '*' and 'keys'")
    for s in comp["scopes"]:
        leaf = canonical({k: s[k] for k in ("count", "last_entry_hash", "last_seq", "scope")})
        if not inclusion_ok(s["index"], irec["scopes"], sha256(b"\x00" + leaf),
                            [unhex(p, "proof") for p in s["proof"]], unhex(irec["root"], "index root")):
            problems.append(f"completeness: {s['scope']!r} is not in the committed scope index")
        mine = sorted(q for q, (sc, _, _) in carried.items() if sc == s["scope"] and q < idx)
        last = (mine[-1], carried[mine[-1]][1]) if mine else (-1, "")
        if len(mine) != s["count"] or last != (s["last_seq"], s["last_entry_hash"]):
            problems.append(f"completeness: bundle holds {len(mine)} entries of {s['scope']!r} below "
                            f"{idx}, the index commits {s['count']} (last {s['last_seq']})")
    extra = [q for q, (sc, _, _) in carried.items() if sc not in named and q != idx]
    if extra:
        problems.append(f"bundle carries entries of other scopes: {extra}")
    return problems


def main(argv: list[str]) -> int:
    """``python -m tests.format.independent_verifier LEDGER.db [PACKAGE.zip LEDGER_KEY.pub]``: exit 0 if all verifies."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    if len(argv) not in (1, 3):
        print(main.__doc__, file=sys.stderr)
        return 2
    problems = verify_ledger(argv[0])
    print(f"ledger {argv[0]}: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    if len(argv) == 3:
        with open(argv[2], "rb") as f:
            key = load_pem_public_key(f.read()).public_bytes(Encoding.Raw, PublicFormat.Raw)
        found = verify_package(argv[1], key)
        print(f"package {argv[1]}: " + ("ok" if not found else f"{len(found)} problem(s)"))
        problems += found
    for p in problems:
        print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
