"""A per-user disk cache of built framework libraries (and of parsed policy files), so a
command does not re-parse YAML.

Parsing and validating the built-in definitions takes about 130 ms, more than the
rest of a typical query; unpickling the built library takes about 10 ms. Entries are
keyed by the content hash of every definition file (built-in, user and extra, with
their origins) *and* of this package's own code, so an edited YAML file or an
upgraded Assure never sees a stale library.

A pickle runs code when loaded, so the cache is private: its directory is created
mode 0700, and a file is loaded only if it is owned by the current user and
writable by no one else. Anything wrong with the cache (unreadable, corrupt,
foreign, a read-only home) is ignored and the library is built from YAML.

``$ASSURE_CACHE_DIR`` moves the cache (empty: no disk cache); the default is
``$XDG_CACHE_HOME/assure`` or ``~/.cache/assure``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frameworks.library import Library

log = logging.getLogger(__name__)

CACHE_ENV = "ASSURE_CACHE_DIR"
_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """Where libraries are cached, or None if the disk cache is off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "assure"


@cache
def code_fingerprint() -> str:
    """SHA-256 over this package's Python sources: the classes a cached library is made of."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _path(key: str) -> Path | None:
    directory = cache_dir()
    if directory is None:
        return None
    return directory / f"library-{key[:32]}-{code_fingerprint()[:16]}.pickle"


def load(key: str) -> Library | None:
    """The cached library for content hash ``key``, or None."""
    path = _path(key)
    data = read_private(path) if path is not None else None
    if data is None:
        return None
    try:
        library = pickle.loads(data)  # a private file this user wrote (read_private checked)
    except Exception as e:  # noqa: BLE001 (a broken cache must never break a command)
        log.info("ignoring the library cache %s: %s", path, e)
        return None
    if getattr(library, "content_hash", None) != key:
        return None
    return library  # type: ignore[no-any-return]


def read_private(path: Path) -> bytes | None:
    """The bytes of a cache file, if it exists and is private to this user (else None, never an error)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                log.warning("ignoring %s: not private to this user", path)
                return None
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.info("ignoring the cache file %s: %s", path, e)
        return None


KEEP = 16
"""Files of one sort kept per cache directory (other versions' and other files' are pruned, oldest first)."""


def _prune(directory: Path, pattern: str) -> None:
    files = sorted(directory.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)


def store(key: str, library: Library) -> None:
    """Cache ``library`` under ``key`` (best effort, atomically, mode 0600)."""
    path = _path(key)
    if path is not None:
        write_private(path, pickle.dumps(library, protocol=pickle.HIGHEST_PROTOCOL), keep="library-*.pickle")


def write_private(path: Path, data: bytes, *, keep: str) -> None:
    """Write a cache file (best effort, atomically, mode 0600, its directory 0700); keep the
    :data:`KEEP` newest files matching ``keep`` there."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cache-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(path.parent, keep)
    except Exception as e:  # noqa: BLE001 (a read-only home still runs every command)
        log.info("not caching %s: %s", path.name, e)
