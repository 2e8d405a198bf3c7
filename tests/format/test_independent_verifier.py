"""docs/format.md is complete: a verifier written from it alone accepts a real ledger and
package, and is not vacuous (a flipped byte, a dropped entry, a wrong pinned key or a
signature the key rules refuse each fail)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import rfc8785
import sqlalchemy as sa

from tests.conftest import append_behind_the_back
from tests.format.independent_verifier import canonical, verify_ledger, verify_package
from tests.reports.conftest import World, edit_bundle, resign, rezip, unzip


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _package(tmp_path: Path, data: bytes) -> str:
    p = tmp_path / "pkg.zip"
    p.write_bytes(data)
    return str(p)


def _flip(db: str, sql_select: str, sql_update: str) -> None:
    """Flip the low bit of the middle byte of one stored blob, as someone with the database could."""
    con = sqlite3.connect(db)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                               "AND tbl_name IN ('entry', 'payload')").fetchall():
        con.execute(f'DROP TRIGGER "{name}"')
    key, blob = con.execute(sql_select).fetchone()
    blob = bytearray(blob)
    blob[len(blob) // 2] ^= 1
    con.execute(sql_update, (bytes(blob), key))
    con.commit()
    con.close()


def test_real_ledger_verifies(world: World) -> None:
    assert verify_ledger(_path(world.db_url)) == []


def test_real_package_verifies(world: World, tmp_path: Path) -> None:
    assert verify_package(_package(tmp_path, world.package), world.keys.admin.public.raw) == []


def test_a_flipped_leaf_byte_is_found(db_copy: str) -> None:
    _flip(_path(db_copy), "SELECT seq, leaf FROM entry WHERE seq = 9", "UPDATE entry SET leaf = ? WHERE seq = ?")
    assert verify_ledger(_path(db_copy)) == [
        "entry 9: entry_hash does not match",
        # the entry is not counted, so the index committed after it no longer matches
        "entry 24: scope_index record does not match the recomputed index",
        *(f"checkpoint {n}: size or root does not match the entries" for n in (16, 23, 25)),
    ]


def test_a_flipped_payload_byte_is_found(db_copy: str) -> None:
    db = _path(db_copy)
    sha = sqlite3.connect(db).execute("SELECT payload_sha256 FROM entry WHERE seq = 9").fetchone()[0]
    _flip(db, f"SELECT sha256, body FROM payload WHERE sha256 = '{sha}'", "UPDATE payload SET body = ? WHERE sha256 = ?")
    assert verify_ledger(db) == [
        "entry 9: payload does not hash to the leaf's payload_sha256",
        "entry 24: scope_index record does not match the recomputed index",
    ]


def test_an_entry_left_out_of_the_bundle_is_found(world: World, tmp_path: Path) -> None:
    def drop_seq_10(bundle: dict) -> None:
        bundle["entries"] = [e for e in bundle["entries"] if e["seq"] != 10]
        bundle["scope"]["seqs"].remove(10)

    files = resign(edit_bundle(unzip(world.package), drop_seq_10), world.keys.admin)
    problems = verify_package(_package(tmp_path, rezip(files)), world.keys.admin.public.raw)
    assert len(problems) == 1 and "holds 13 entries of 'credit-scoring'" in problems[0], problems


def test_a_wrong_pinned_key_is_found(world: World, tmp_path: Path) -> None:
    problems = verify_package(_package(tmp_path, world.package), world.keys.stranger.public.raw)
    assert problems == ["manifest is signed by a key other than the pinned one: not anchored"]


@pytest.mark.parametrize(("signer", "record", "problem"), [
    ("stranger", None, "not a trusted, unrevoked key"),
    ("auditor", {"kind": "document", "system": "credit-scoring", "observed_at": "2026-11-21T09:00:00Z",
                 "doc_type": "note", "title": "after revocation"}, "not a trusted, unrevoked key"),
    ("pipeline", {"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-21T09:00:00Z",
                  "target": "00" * 32, "decision": "approve"}, "a pipeline key may not sign approval"),
])
def test_key_rules_are_replayed(db_copy: str, world: World, signer: str, record: dict | None,
                                problem: str) -> None:
    """A well-chained entry appended behind the ledger's back by a key the rules refuse."""
    engine = sa.create_engine(db_copy)
    with engine.begin() as conn:
        seq = append_behind_the_back(conn, getattr(world.keys, signer), record=record,
                                     received_at="2026-11-21T09:00:00Z")
    engine.dispose()
    problems = verify_ledger(_path(db_copy))
    assert len(problems) == 1 and problems[0].startswith(f"entry {seq}: ") and problem in problems[0], problems


@pytest.mark.parametrize("value", [
    {"b": [1, 1.0, -0.0, 0.1, 1e21, 1e-7, 123456789.125, 5e-324], "a": "é\u2028\x1f\"\\/😀"},
    {"\U0001f600": 1, "\uffff": 2, "a": {"z": None, "y": True}},
])
def test_canonical_json_agrees_with_rfc8785(value: object) -> None:
    assert canonical(value) == rfc8785.dumps(value)
