"""The per-user disk cache of built libraries: used when it is the same content and code, never otherwise."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY_FRAMEWORK

from frameworks import disk_cache, loader
from frameworks.loader import load_library


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("ASSURE_CACHE_DIR", str(directory))
    loader.clear_cache()
    return directory


@pytest.fixture
def no_yaml(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """After calling it, building a library from YAML fails the test."""

    def forbid() -> None:
        def build(self: object) -> None:
            raise AssertionError("the library was parsed from YAML, not read from the cache")

        monkeypatch.setattr(loader._Builder, "build", build)

    return forbid


def test_a_second_process_reads_the_library_from_disk(cache: Path, no_yaml: Callable[[], None]) -> None:
    first = load_library()
    files = list(cache.glob("library-*.pickle"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700
    loader.clear_cache()  # as a new process would start
    no_yaml()
    again = load_library()
    assert again is not first and again.content_hash == first.content_hash
    assert sorted(again.requirements) == sorted(first.requirements)


def test_an_edited_user_file_is_never_served_stale(cache: Path, write: Callable[[str, str], Path]) -> None:
    path = write("user/acme.yaml", TINY_FRAMEWORK)
    load_library(user_dir=path.parent)
    path.write_text(TINY_FRAMEWORK.replace("Every AI system has an owner", "Every system has an owner"))
    loader.clear_cache()
    assert load_library(user_dir=path.parent).requirements["acme-policy:P1.1"].title == "Every system has an owner"
    assert len(list(cache.glob("library-*.pickle"))) == 2


def test_a_change_to_the_code_uses_another_entry(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_library()
    monkeypatch.setattr(disk_cache, "code_fingerprint", lambda: "f" * 64)
    loader.clear_cache()
    load_library()
    assert len(list(cache.glob("library-*.pickle"))) == 2


@pytest.mark.parametrize("spoil", ["group-writable", "corrupt", "another library"])
def test_a_cache_file_that_cannot_be_trusted_is_ignored(cache: Path, spoil: str) -> None:
    """Another local user who can write the file could make it run code: it is not loaded."""
    good = load_library()
    (path,) = cache.glob("library-*.pickle")
    if spoil == "group-writable":
        path.write_bytes(b"not even a pickle")  # would fail to load anyway: the mode check comes first
        os.chmod(path, 0o620)
    elif spoil == "corrupt":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        other = loader.load_library_from_bytes([("x.yaml", TINY_FRAMEWORK.encode())])
        disk_cache.store(good.content_hash, other)  # stored under the wrong key
    loader.clear_cache()
    assert load_library().content_hash == good.content_hash


def test_no_cache_directory_means_no_disk_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSURE_CACHE_DIR", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    loader.clear_cache()
    load_library()
    assert disk_cache.cache_dir() is None and list(tmp_path.iterdir()) == []


def test_an_unwritable_cache_directory_still_loads(cache: Path) -> None:
    cache.parent.mkdir(exist_ok=True)
    cache.write_text("a file where the directory should be")
    assert load_library().requirements


def test_old_entries_are_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(disk_cache.KEEP + 3):
        monkeypatch.setattr(disk_cache, "code_fingerprint", lambda n=n: f"{n:016x}" * 4)
        loader.clear_cache()
        load_library()
    assert len(list(cache.glob("library-*.pickle"))) == disk_cache.KEEP
