"""A policy file's parsed YAML is kept in the per-user cache (controls.policy_file): a second
command does not parse it, an edited file is never served stale, and only a private cache
file is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controls import policy_file
from controls.approvals import load_policy
from ledger.errors import InputError
from tests.controls.test_approval_policy_file import TWO_APPROVERS


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("ASSURE_CACHE_DIR", str(directory))
    return directory


def forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(data: bytes, path: Path) -> None:
        raise AssertionError(f"{path} was parsed, not read from the cache")

    monkeypatch.setattr(policy_file, "_parse", parse)


def test_a_second_command_reads_the_parsed_policy_from_the_cache(cache: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(TWO_APPROVERS)
    first = load_policy(path)
    [kept] = cache.glob("policy-*.json")
    assert kept.stat().st_mode & 0o777 == 0o600
    forbid_parsing(monkeypatch)
    assert load_policy(path) == first and first.rule("release", "medium").approvers == 2


def test_an_edited_policy_is_parsed_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(TWO_APPROVERS)
    assert load_policy(path).rule("release", "high").approvers == 2
    path.write_text(TWO_APPROVERS.replace("high: {approvers: 2}", "high: {approvers: 3}"))
    assert load_policy(path).rule("release", "high").approvers == 3
    # The edit is refused as before when it is malformed, whatever the cache holds.
    path.write_text(TWO_APPROVERS.replace("high: {approvers: 2}", "high: {approvers: 2, approvers: 1}"))
    with pytest.raises(InputError, match="duplicate key"):
        load_policy(path)


def test_a_cache_file_others_can_write_is_ignored(cache: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who can write the cache file could lower the bar: it is read only when private."""
    path = tmp_path / "policy.yaml"
    path.write_text(TWO_APPROVERS)
    load_policy(path)
    [kept] = cache.glob("policy-*.json")
    lowered = kept.read_text().replace('"approvers": 2', '"approvers": 1')
    kept.write_text(lowered)
    os.chmod(kept, 0o666)
    assert load_policy(path).rule("release", "high").approvers == 2
    # ... and replaced by the file's own parse, private again.
    assert kept.stat().st_mode & 0o777 == 0o600 and '"approvers": 2' in kept.read_text()
    # This user's own private file is trusted, as the library cache is (a pickle there runs code).
    kept.write_text(lowered)
    forbid_parsing(monkeypatch)
    assert load_policy(path).rule("release", "high").approvers == 1


def test_a_damaged_cache_file_is_parsed_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(TWO_APPROVERS)
    load_policy(path)
    [kept] = cache.glob("policy-*.json")
    kept.write_text('{"format": "assure-approval-pol')
    assert load_policy(path).rule("release", "high").approvers == 2


def test_without_a_cache_directory_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSURE_CACHE_DIR", "")
    path = tmp_path / "policy.yaml"
    path.write_text(TWO_APPROVERS)
    assert load_policy(path).rule("release", "high").approvers == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]


@pytest.mark.parametrize(("document", "kept"), [
    ({"a": [1, 2.5, True, None, "x"]}, True),
    ({1: "one"}, False),  # JSON would give the key back as "1"
    ({"when": __import__("datetime").date(2026, 1, 1)}, False),  # not JSON at all
    ({"x": float("nan")}, False),
])
def test_only_a_document_json_holds_exactly_is_kept(document: object, kept: bool) -> None:
    assert (policy_file._exact_json(document) is not None) is kept
