"""Write imported definitions as our framework and crosswalk YAML, checked before anything is written.

The importers build plain dicts in the ``assure-framework/1`` and
``assure-crosswalk/1`` formats; :func:`write_definitions` dumps them, validates
the result exactly as ``assure frameworks validate`` would (with the built-ins
and the user frameworks directory), and only then writes every file. A set of
files that would not load is never written, and neither is any one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from frameworks.loader import validate_new_files
from ledger.output_file import atomic_write


class _Dumper(yaml.SafeDumper):
    """Block YAML; multi-line text as literal blocks so paragraphs stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.startswith((" ", "\t")) and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(document: dict[str, Any], *, header: str) -> bytes:
    """A definition document as YAML, after a comment ``header`` (one ``#`` line per line)."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return (comment + body).encode("utf-8")


@dataclass(frozen=True)
class Written:
    """One file an import wrote: where, what format, and how many items it holds."""

    path: Path
    format: str
    id: str
    items: int

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": str(self.path), "format": self.format, "id": self.id, "items": self.items}


def write_definitions(files: list[tuple[Path, dict[str, Any]]], *, header: str,
                      user_dir: Path | None) -> list[Written]:
    """Validate, then write, definition documents (all or none).

    Args:
        files: where to write each document, and the document.
        header: a comment put at the top of each file (where it came from).
        user_dir: the user frameworks directory the files are checked against.

    Returns:
        What was written.

    Raises:
        FrameworkLoadError: if the files would not load (nothing is written).
        InputError: if a file cannot be written.
    """
    data = [(path, dump_yaml(doc, header=header)) for path, doc in files]
    validate_new_files([(str(p), d) for p, d in data], user_dir=user_dir)
    for path, blob in data:
        atomic_write(path, blob)
    return [Written(p, doc["format"], _doc_id(doc), _count(doc)) for p, doc in files]


def _doc_id(doc: dict[str, Any]) -> str:
    block = doc.get("framework") or doc.get("crosswalk") or {}
    return str(block.get("id", ""))


def _count(doc: dict[str, Any]) -> int:
    return len(doc.get("requirements") or doc.get("mappings") or [])
