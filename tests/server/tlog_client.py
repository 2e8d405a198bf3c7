"""A tlog-tiles client written only from the C2SP specs (tlog-tiles, tlog-checkpoint,
signed-note) and RFC 6962/9162 hashing: hashlib, the ``cryptography`` Ed25519 verifier
and HTTP. It shares no code with the ledger, so it checks what the server serves,
not what our own tree code believes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Fetch = Callable[[str], bytes]


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:
    return _h(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def verify_checkpoint(note: str, name: str, public_key: bytes) -> tuple[str, int, bytes]:
    """A signed note's checkpoint body (origin, size, root hash) once its Ed25519 signature by ``name``
    verifies (key ID = SHA-256(name || 0x0A || 0x01 || key)[:4])."""
    text, sep, sigs = note.rpartition("\n\n")
    assert sep, "no blank line before the signatures"
    body = (text + "\n").encode()
    key_id = _h(name.encode() + b"\n\x01" + public_key)[:4]
    verified = False
    for line in sigs.splitlines():
        dash, key_name, sig = line.split(" ")
        assert dash == "\u2014"
        raw = base64.b64decode(sig, validate=True)
        if key_name == name and raw[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], body)  # raises if bad
            verified = True
    assert verified, "no signature by the pinned key"
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root, validate=True)


def tile_path(level: int | str, n: int, width: int) -> str:
    """tile/<L>/<N>[.p/<W>] with <N> in 3-digit elements, all but the last prefixed by x."""
    parts = []
    while True:
        parts.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    encoded = "/".join(["x" + p for p in reversed(parts[1:])] + [parts[0]])
    return f"tile/{level}/{encoded}" + (f".p/{width}" if width < 256 else "")


class TiledTree:
    """The tree of ``size`` entries, read through tiles only."""

    def __init__(self, fetch: Fetch, size: int):
        self.fetch, self.size, self._tiles = fetch, size, {}

    def _tile(self, level: int, n: int) -> list[bytes]:
        # The width of this tile in a tree of self.size: full unless it is the rightmost one.
        full = (n + 1) * 256 ** (level + 1) <= self.size
        width = 256 if full else (self.size // 256 ** level) % 256
        key = (level, n, width)
        if key not in self._tiles:
            data = self.fetch(tile_path(level, n, width))
            assert len(data) == 32 * width, (key, len(data))
            self._tiles[key] = [data[i:i + 32] for i in range(0, len(data), 32)]
        return self._tiles[key]

    def subtree(self, height: int, index: int) -> bytes:
        """MTH of entries [index * 2^height, (index+1) * 2^height): a tile hash, or hashed up from one."""
        level, rest = divmod(height, 8)
        first = index << rest  # first hash at that tile level
        hashes = [self._tile(level, (first + i) // 256)[(first + i) % 256] for i in range(1 << rest)]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def _mth(self, start: int, n: int) -> bytes:
        """MTH(D[start:start+n]) as RFC 6962 defines it."""
        if n & (n - 1) == 0 and start % n == 0:
            return self.subtree(n.bit_length() - 1, start // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self._mth(start, k), self._mth(start + k, n - k))

    def root(self) -> bytes:
        return self._mth(0, self.size)

    def inclusion_path(self, m: int) -> list[bytes]:
        """PATH(m, D[0:size]) (RFC 6962 2.1.1)."""
        def path(m: int, start: int, n: int) -> list[bytes]:
            if n == 1:
                return []
            k = 1 << ((n - 1).bit_length() - 1)
            if m < k:
                return [*path(m, start, k), self._mth(start + k, n - k)]
            return [*path(m - k, start + k, n - k), self._mth(start, k)]
        return path(m, 0, self.size)

    def entries(self, n: int) -> list[bytes]:
        """The entries of bundle n: big-endian uint16 length-prefixed."""
        full = (n + 1) * 256 <= self.size
        width = 256 if full else self.size % 256
        data = self.fetch(tile_path("entries", n, width))
        out, i = [], 0
        while i < len(data):
            length = int.from_bytes(data[i:i + 2], "big")
            out.append(data[i + 2:i + 2 + length])
            i += 2 + length
        assert i == len(data) and len(out) == width
        return out


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root
