"""Output files never follow a link planted at their path, and never leave half a file behind.

Written as another local user would try it: ``gate.intoto.json`` (the default
name) or ``package.zip`` in a shared directory is made a symbolic link to a file
the victim owns (their shell profile, a key, another package) before the victim
runs the command. Every command that writes a file (``sign -o``, ``checkpoint
-o``, ``gate --sign -o``, ``report -o``, ``package -o``) must replace the link
with a new regular file and leave the linked-to file untouched.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ledger import output_file
from ledger.errors import InputError
from ledger.store import Ledger
from tests.conftest import eval_record

PRECIOUS = b"the victim's file: must not change\n"
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database plays no part here


def _plant(tmp_path: Path, name: str) -> Path:
    """A file outside the output directory, and a link to it at the output path; returns the file."""
    victim = tmp_path / "elsewhere" / "precious.txt"
    victim.parent.mkdir(exist_ok=True)
    victim.write_bytes(PRECIOUS)
    (tmp_path / name).symlink_to(victim)
    return victim


def _assert_replaced_not_followed(tmp_path: Path, name: str, victim: Path, starts: bytes) -> None:
    out = tmp_path / name
    assert victim.read_bytes() == PRECIOUS, "the command wrote through the link"
    assert not out.is_symlink() and stat.S_ISREG(out.lstat().st_mode)
    assert out.read_bytes().startswith(starts)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "a temporary file was left behind"


@pytest.fixture
def setup(ledger: Ledger, keys, tmp_path: Path) -> Ledger:
    for name in ("admin", "pipeline"):
        (tmp_path / f"{name}.pem").write_bytes(getattr(keys, name).to_pem())
    (tmp_path / "r.json").write_text(json.dumps(eval_record()))
    return ledger


COMMANDS = {
    "sign": (["sign", "r.json", "--key", "pipeline.pem", "-o", "{out}"], b"{", 0),
    "checkpoint": (["checkpoint", "--key", "admin.pem", "-o", "{out}"], b"test.example/ledger\n", 0),
    "gate": (["gate", "--system", "credit-scoring", "--model-version", "2.1.0", "--sign", "admin.pem",
              "-o", "{out}"], b"{", 1),
    "report": (["report", "--system", "credit-scoring", "-o", "{out}"], b"<!DOCTYPE html>", 0),
}


@SQLITE_ONLY
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("link", ["existing-file", "dangling"])
def test_a_link_at_the_output_path_is_replaced_not_followed(setup: Ledger, db_url: str, tmp_path: Path, run_cli,
                                                             command: str, link: str) -> None:
    args, starts, code = COMMANDS[command]
    victim = _plant(tmp_path, "out.file")
    if link == "dangling":  # a link to a file not there yet: following it would create the file
        victim.unlink()
    result = run_cli(*[a.format(out="out.file") for a in args], db=db_url)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if link == "dangling":
        assert not victim.exists(), "the command created the link's target"
        victim.write_bytes(PRECIOUS)
    _assert_replaced_not_followed(tmp_path, "out.file", victim, starts)


@SQLITE_ONLY
@pytest.mark.pdf
def test_package_replaces_a_link_at_its_path(setup: Ledger, db_url: str, tmp_path: Path, run_cli) -> None:
    victim = _plant(tmp_path, "package.zip")
    result = run_cli("package", "--system", "credit-scoring", "--framework", "nist-ai-rmf", "--key", "admin.pem",
                     "-o", "package.zip", db=db_url)
    assert result.exit_code == 0, result.output
    _assert_replaced_not_followed(tmp_path, "package.zip", victim, b"PK")


@SQLITE_ONLY
def test_an_output_path_that_is_a_directory_is_bad_input(setup: Ledger, db_url: str, tmp_path: Path,
                                                          run_cli) -> None:
    (tmp_path / "cp").mkdir()
    result = run_cli("checkpoint", "--key", "admin.pem", "-o", "cp", db=db_url)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: cp: Is a directory")
    assert os.listdir(tmp_path / "cp") == [] and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_link_planted_at_the_temporary_name_is_not_followed(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a guessed temporary name does not help: the file is created exclusively, never through a link."""
    victim = tmp_path / "precious.txt"
    victim.write_bytes(PRECIOUS)
    names = iter(["guessed", "guessed", "fresh"])
    monkeypatch.setattr(output_file.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".out.json.guessed.tmp").symlink_to(victim)
    output_file.atomic_write(tmp_path / "out.json", b"new")
    assert victim.read_bytes() == PRECIOUS
    assert (tmp_path / "out.json").read_bytes() == b"new"
    assert (tmp_path / ".out.json.guessed.tmp").is_symlink()  # someone else's; left alone


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.json"
    out.write_bytes(b"old")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output_file.os, "replace", fail)
    with pytest.raises(InputError, match="out.json: No space left on device"):
        output_file.atomic_write(out, b"new")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        output_file.atomic_write(tmp_path / "out.json", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o640


@SQLITE_ONLY
@pytest.mark.parametrize("planted", ["catalogs", "proofs"])
def test_an_export_refuses_a_link_planted_as_one_of_its_directories(setup: Ledger, db_url: str, tmp_path: Path,
                                                                      run_cli, planted: str) -> None:
    """``export oscal -o out`` writes into out/catalogs/ and out/proofs/: a link planted there
    must not carry the files into someone else's directory."""
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / planted).symlink_to(victim)
    result = run_cli("export", "oscal", "--system", "credit-scoring", "-o", "out", db=db_url)
    assert result.exit_code == 2, result.output
    assert f"out/{planted}: is a symbolic link: refusing to write through it" in result.stderr
    assert "Traceback" not in result.output
    assert list(victim.iterdir()) == [], "the export wrote through the link"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [planted], "a refused export wrote files"


def test_make_subdirectories_refuses_a_file_in_the_way_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "b").write_bytes(PRECIOUS)
    with pytest.raises(InputError, match="b: not a directory"):
        output_file.make_subdirectories(tmp_path, ["a/x.json", "b/c/y.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    output_file.make_subdirectories(tmp_path, ["a/x.json", "a/d/z.json", "top.json"])
    assert (tmp_path / "a" / "d").is_dir() and not (tmp_path / "top.json").exists()
