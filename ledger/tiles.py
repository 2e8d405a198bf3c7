"""The ledger's Merkle tree as C2SP tlog-tiles: tiles of hashes and entry bundles.

A tile at level ``L``, index ``N`` holds up to 256 consecutive Merkle tree hashes:
at level 0 the leaf hashes of entries ``N*256 …``, at level ``L`` the hashes of the
complete subtrees of height ``8L`` (the ``tree_node`` rows of level ``8L``). An
entry bundle holds the same entries' leaves (the canonical leaf bytes, never the
payloads), each prefixed with its length as a big-endian uint16. A tile of width
``W`` < 256 is partial; any width whose hashes the current tree already has is
served, since a tile's first ``W`` hashes never change once they exist.

This module reads; it does not sign checkpoints (see ``ledger.checkpoints``) and
does not know HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ledger import models as m
from ledger.db import read_transaction
from ledger.errors import IntegrityError, NotFoundError
from ledger.head import not_initialised, read_head
from ledger.merkle import leaf_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
_ELEMENT = re.compile(r"x\d{3}")
_LAST = re.compile(r"\d{3}")
_WIDTH = re.compile(r"[1-9]\d{0,2}")


@dataclass(frozen=True)
class TileRef:
    """A tile (``level`` ≥ 0) or, with ``level`` None, an entry bundle; ``width`` 256 is full."""

    level: int | None
    index: int
    width: int

    @property
    def path(self) -> str:
        """The tlog-tiles path, e.g. ``tile/0/x001/x234/067.p/8`` or ``tile/entries/000``."""
        return f"tile/{'entries' if self.level is None else self.level}/{encode_index(self.index)}" + (
            f".p/{self.width}" if self.width < TILE_WIDTH else "")


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067``: 3-digit elements, all but the last prefixed with ``x``."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(level: str, rest: str) -> TileRef:
    """Parse ``<L>`` (or ``entries``) and ``<N>[.p/<W>]`` of a tile path, strictly.

    Raises:
        NotFoundError: for any path the spec does not spell this way (leading
            zeros, a missing ``x``, a width of 0 or 256 and above).
    """
    bad = NotFoundError(f"not a tile path: tile/{level}/{rest}")
    if level == "entries":
        lvl = None
    elif re.fullmatch(r"0|[1-9]\d?", level) and int(level) <= MAX_LEVEL:
        lvl = int(level)
    else:
        raise bad
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, w = rest.split(".p/", 1)
        if not _WIDTH.fullmatch(w) or int(w) >= TILE_WIDTH:
            raise bad
        width = int(w)
    parts = rest.split("/")
    if not _LAST.fullmatch(parts[-1]) or not all(_ELEMENT.fullmatch(p) for p in parts[:-1]):
        raise bad
    if len(parts) > 1 and parts[0] == "x000":  # no leading zero groups: one spelling per index
        raise bad
    index = int("".join(p.lstrip("x") for p in parts))
    return TileRef(lvl, index, width)


def _span(ref: TileRef) -> tuple[int, int]:
    """The first tree-node index and the level (height) of the hashes ``ref`` holds."""
    height = 0 if ref.level is None else TILE_HEIGHT * ref.level
    return ref.index * TILE_WIDTH, height


def read_tile(engine: Engine, ref: TileRef) -> bytes:
    """The bytes of a tile (concatenated 32-byte hashes) or an entry bundle.

    Raises:
        NotFoundError: the tree does not have that many hashes there yet.
        IntegrityError: a leaf too long for an entry bundle, or a missing tree node.
    """
    first, height = _span(ref)
    with read_transaction(engine) as conn:
        head = read_head(conn)
        if head is None:
            raise not_initialised()
        if (first + ref.width) << height > head.size:
            raise NotFoundError(f"{ref.path}: the tree of {head.size} entries has no such tile")
        if height == 0:
            rows = conn.execute(
                select(m.Entry.seq, m.Entry.leaf).where(m.Entry.seq >= first, m.Entry.seq < first + ref.width)
                .order_by(m.Entry.seq)  # type: ignore[arg-type]
            ).all()
        else:
            rows = conn.execute(
                select(m.TreeNode.idx, m.TreeNode.hash).where(
                    m.TreeNode.level == height, m.TreeNode.idx >= first,  # type: ignore[arg-type]
                    m.TreeNode.idx < first + ref.width,  # type: ignore[arg-type]
                ).order_by(m.TreeNode.idx)  # type: ignore[arg-type]
            ).all()
    if [r[0] for r in rows] != list(range(first, first + ref.width)):
        raise IntegrityError(f"{ref.path}: stored tree nodes are missing: run 'assure verify'")
    if height:
        return b"".join(bytes(r[1]) for r in rows)
    if ref.level == 0:
        return b"".join(leaf_hash(bytes(r[1])) for r in rows)
    out = bytearray()
    for seq, leaf in rows:
        if len(leaf) > 0xFFFF:
            raise IntegrityError(f"its leaf is {len(leaf)} bytes, more than an entry bundle holds (65,535)",
                                 seq=seq)
        out += len(leaf).to_bytes(2, "big") + bytes(leaf)
    return bytes(out)
