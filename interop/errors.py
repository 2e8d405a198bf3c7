"""Errors of the importers: a malformed or unsupported input, located inside its file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frameworks._yaml import format_path
from ledger.errors import InputError


class ImportFormatError(InputError):
    """An input file is malformed or of a kind we do not read (exit 2; nothing is written)."""


@dataclass(frozen=True)
class Where:
    """A place inside an input file: the file and the path of keys and indexes to it.

    ``line`` (1-based), when known, is added to the file name in messages.
    """

    file: str
    path: tuple[str | int, ...] = ()
    line: int | None = None

    def at(self, *parts: str | int) -> Where:
        """The place ``parts`` further down."""
        return Where(self.file, self.path + parts, self.line)

    def error(self, reason: str) -> ImportFormatError:
        """An error at this place (raise it)."""
        source = f"{self.file}:{self.line}" if self.line else self.file
        return ImportFormatError(reason, source=source, field=format_path(self.path) or None)

    def read(self) -> bytes:
        """The bytes of the file this place is in.

        Raises:
            ImportFormatError: if it cannot be read.
        """
        try:
            return Path(self.file).read_bytes()
        except OSError as e:
            raise self.error(f"cannot read: {e.strerror or e}") from e

    def mapping(self, value: Any) -> dict[str, Any]:
        """``value`` if it is a mapping.

        Raises:
            ImportFormatError: if it is not.
        """
        if not isinstance(value, dict):
            raise self.error(f"expected a mapping, found {_kind(value)}")
        return value

    def items(self, value: Any) -> list[Any]:
        """``value`` if it is a list.

        Raises:
            ImportFormatError: if it is not.
        """
        if not isinstance(value, list):
            raise self.error(f"expected a list, found {_kind(value)}")
        return value

    def text(self, value: Any) -> str:
        """``value`` if it is non-empty text.

        Raises:
            ImportFormatError: if it is missing, empty or not text.
        """
        if value is None:
            raise self.error("missing")
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"expected non-empty text, found {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"text {value!r}"[:60], bool: f"{value}"}.get(
        type(value), type(value).__name__)
