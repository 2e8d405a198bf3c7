"""Reading record files: YAML, JSON, JSON Lines; a file may hold one record or a list.

Each document comes back with a *source* label naming where it came from
(``evals/run.yaml[2]``, ``batch.jsonl:17``) so every later error can point at it.
Nothing here validates record fields; see ``ledger.records``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ledger.canonical import CanonicalError, parse_json
from ledger.errors import InputError

MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """One parsed record or envelope and where it came from."""

    source: str
    data: Any


def read_documents(path: str, *, stdin_bytes: bytes | None = None) -> list[Document]:
    """Read every record/envelope in ``path`` (``-`` means standard input).

    Raises:
        InputError: naming the file (and line) for unreadable, non-UTF-8,
            malformed or empty input.
    """
    if path == "-":
        raw = stdin_bytes or b""
        label, suffix = "<stdin>", ""
    else:
        p = Path(path)
        label, suffix = path, p.suffix.lower()
        try:
            if p.stat().st_size > MAX_FILE_BYTES:
                raise InputError(f"file is larger than {MAX_FILE_BYTES >> 20} MiB", source=label)
            raw = p.read_bytes()
        except FileNotFoundError as e:
            raise InputError("no such file", source=label) from e
        except IsADirectoryError as e:
            raise InputError("is a directory", source=label) from e
        except OSError as e:
            raise InputError(e.strerror or "cannot read", source=label) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"invalid UTF-8 at byte {e.start} (line {line})", source=label) from e
    if suffix == ".jsonl" or (suffix == "" and _looks_like_jsonl(text)):
        docs = _parse_jsonl(text, label)
    elif suffix == ".json":
        docs = _as_list(_parse_json(text, label), label)
    else:
        docs = _as_list(_parse_yaml(text, label), label)
    if not docs:
        raise InputError("holds no records", source=label)
    return docs


def _looks_like_jsonl(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines)


def _parse_json(text: str, label: str) -> Any:
    try:
        return parse_json(text)
    except CanonicalError as e:
        raise InputError(str(e), source=label) from e


def _parse_jsonl(text: str, label: str) -> list[Document]:
    docs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            docs.append(Document(f"{label}:{lineno}", _parse_json(line, f"{label}:{lineno}")))
    return docs


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping  # type: ignore[arg-type]
)


def _parse_yaml(text: str, label: str) -> Any:
    try:
        docs = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]  # noqa: S506
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InputError(f"invalid YAML{where}: {e.problem or e.context}", source=label) from e
    except yaml.YAMLError as e:
        raise InputError(f"invalid YAML: {e}", source=label) from e
    except RecursionError as e:
        raise InputError("YAML nested too deeply", source=label) from e
    except ValueError as e:  # e.g. an integer longer than Python's digit limit
        raise InputError(f"invalid YAML: {e}", source=label) from e
    if len(docs) == 1:
        return docs[0]
    return docs


def _as_list(data: Any, label: str) -> list[Document]:
    if isinstance(data, list):
        return [Document(f"{label}[{i}]", d) for i, d in enumerate(data)]
    return [Document(label, data)]
