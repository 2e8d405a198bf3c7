"""The ledger as C2SP tlog-tiles over HTTP, checked by a client written from the specs alone."""

from __future__ import annotations

import random

import pytest

from ledger.checkpoints import issue_checkpoint
from ledger.ingest import Document
from ledger.store import Ledger
from tests.conftest import eval_record
from tests.server import tlog_client as spec

ORIGIN = "test.example/ledger"


def _grow(ledger, keys, n):
    ledger.append([Document(f"r{i}", eval_record(suite=f"suite-{i}")) for i in range(n)], signing_key=keys.pipeline)


def test_a_spec_client_verifies_the_checkpoint_and_inclusion_from_tiles(ledger, keys, tokens, serve, engine):
    _grow(ledger, keys, 66_000 // 100 - ledger.head().size)  # 660 entries: 2 full level-0 tiles, a partial one
    issue_checkpoint(engine, keys.admin)
    server = serve()
    with server.client(tokens["viewer"]) as c:
        def fetch(path: str) -> bytes:
            r = c.get("/" + path)
            assert r.status_code == 200, (path, r.text)
            assert r.headers["content-type"] == "application/octet-stream"
            return r.content

        note = c.get("/checkpoint")
        assert note.headers["content-type"] == "text/plain; charset=utf-8"
        origin, size, root = spec.verify_checkpoint(note.text, ORIGIN, keys.admin.public.raw)
        assert (origin, size) == (ORIGIN, 660)
        tree = spec.TiledTree(fetch, size)
        assert tree.root() == root
        leaves = [e for n in range(3) for e in tree.entries(n)]
        assert len(leaves) == size
        stored = Ledger(engine)
        for i in [0, 1, 255, 256, 511, 512, 659, *random.Random(7).sample(range(size), 25)]:
            assert spec.leaf_hash(leaves[i]) == tree.subtree(0, i)
            assert spec.verify_inclusion(spec.leaf_hash(leaves[i]), i, size, tree.inclusion_path(i), root)
            assert leaves[i] == stored.get(i).leaf  # the leaf, never the payload
            assert b"payload_sha256" in leaves[i] and stored.get(i).payload not in leaves[i]
        # a wrong leaf does not verify
        assert not spec.verify_inclusion(spec.leaf_hash(leaves[1]), 0, size, tree.inclusion_path(0), root)


def test_level_one_tiles_and_the_path_encoding(ledger, keys, tokens, serve, engine, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("tile arithmetic does not depend on the backend; 70k entries take a while on both")
    _grow(ledger, keys, 256 * 256 + 300 - ledger.head().size)  # a full level-1 tile
    issue_checkpoint(engine, keys.admin)
    server = serve("--public-tiles")
    with server.client() as c:  # no token: --public-tiles
        def fetch(path: str) -> bytes:
            r = c.get("/" + path)
            assert r.status_code == 200, (path, r.text)
            return r.content

        _, size, root = spec.verify_checkpoint(c.get("/checkpoint").text, ORIGIN, keys.admin.public.raw)
        tree = spec.TiledTree(fetch, size)
        assert tree.root() == root
        assert len(fetch("tile/1/000")) == 8192 and len(fetch("tile/2/000.p/1")) == 32
        assert len(fetch("tile/0/257.p/44")) == 44 * 32 and len(fetch("tile/entries/257.p/44")) > 44 * 2
        missing = c.get("/tile/0/x001/000")  # well spelled (index 1000), not there yet
        assert missing.status_code == 404 and "has no such tile" in missing.json()["detail"]
        for i in (65_535, 65_536, size - 1):
            assert spec.verify_inclusion(tree.subtree(0, i), i, size, tree.inclusion_path(i), root)
        assert c.get("/v1/log").status_code == 401  # only tiles are public


@pytest.mark.parametrize("path", [
    "tile/0/1", "tile/00/000", "tile/0/0000", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/01",
    "tile/0/x000/001", "tile/0/001", "tile/64/000", "tile/0/abc", "tile/entries/001", "tile/0/000.p/9",
])
def test_malformed_or_missing_tiles_are_404(ledger, tokens, serve, path, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("paths do not depend on the backend")
    server = serve()
    with server.client(tokens["viewer"]) as c:
        assert c.get("/tile/0/000.p/7").status_code == 200  # the fixture's ledger holds 7 entries
        r = c.get("/" + path)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_tile_index_encoding_round_trips():
    from ledger.tiles import encode_index, parse_tile_path

    assert encode_index(1234067) == "x001/x234/067" == spec.tile_path(0, 1234067, 256).removeprefix("tile/0/")
    for n in (0, 7, 999, 1000, 1001, 255_999, 10**9 + 7):
        assert parse_tile_path("3", encode_index(n) + ".p/5").index == n
        assert spec.tile_path(3, n, 5) == f"tile/3/{encode_index(n)}.p/5"
