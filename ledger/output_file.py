"""Writing output files (packages, reports, signed statements, checkpoints) safely.

An output path is often predictable (``gate.intoto.json``, ``package.zip``) and
may sit in a directory others can write to. Writing it with ``open(path, "w")``
follows a symbolic link planted there and overwrites whatever it points to, and
a crash leaves half a file. :func:`atomic_write` instead writes a fresh
temporary file beside the target (a random name, created exclusively and never
through a link), flushes it to disk and renames it onto the target: a link at
the target is replaced, never followed, and readers see the old file or the new
one, never a mixture.

This module decides nothing about what is written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ledger.errors import InputError

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def atomic_write(path: str | Path, data: bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with a new file holding ``data``.

    Args:
        path: the file to write; a symbolic link there is replaced by the file.
        data: its new contents.
        mode: permissions of the new file, less the process umask (the old
            file's permissions are not kept).

    Raises:
        InputError: naming ``path`` if it cannot be written (a missing
            directory, a directory at that name, no permission).
    """
    atomic_write_all([(path, data)], mode=mode)


def atomic_write_all(files: Iterable[tuple[str | Path, bytes]], *, mode: int = 0o666) -> None:
    """:func:`atomic_write` of each file, each directory made durable once at the end (an
    export of 10,000 proof files paid a directory sync per file).

    Raises:
        InputError: naming the first path that cannot be written, as given (those before
            it are written, and their directories synced).
    """
    directories: dict[Path, None] = {}
    try:
        for path, data in files:
            target = Path(path)
            try:
                _replace(target, data, mode)
            except OSError as e:
                raise InputError(e.strerror or "cannot write", source=str(path)) from e
            directories[target.parent] = None
    finally:
        for directory in directories:
            _sync_directory(directory)


def _replace(target: Path, data: bytes, mode: int) -> None:
    fd, tmp = _create_temporary(target, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)  # rename(2): replaces a link at target, never follows it
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def make_subdirectories(root: Path, files: Iterable[str]) -> None:
    """Create ``root`` and the directories under it that the relative paths ``files`` need.

    A directory a file goes into must be a real directory: a symbolic link planted
    there (``out/proofs`` -> someone else's directory) would carry the files outside
    ``root``, so it is refused, as is a file at that name. Every directory is checked
    before any is created, so a refusal leaves ``root`` as it was. ``root`` itself is
    the caller's to choose (it may be a link the user made).

    Raises:
        InputError: naming the offending path.
    """
    needed = sorted({parent for name in files for parent in PurePosixPath(name).parents if parent.parts})
    for relative in needed:
        path = root / relative
        if path.is_symlink():
            raise InputError("is a symbolic link: refusing to write through it", source=str(path))
        if path.exists() and not path.is_dir():
            raise InputError("not a directory", source=str(path))
    for path in [root, *(root / relative for relative in needed)]:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(e.strerror or "cannot create", source=str(path)) from e


def _create_temporary(target: Path, mode: int) -> tuple[int, Path]:
    """A new, empty file with an unpredictable name in ``target``'s directory."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, _CREATE, mode), tmp
        except FileExistsError:  # a name someone else took (even as a link): draw again
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _sync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
