"""Reading record files: YAML, JSON, JSON Lines; a file may hold one record or a list.

Each document comes back with a *source* label naming where it came from
(``evals/run.yaml[2]``, ``batch.jsonl:17``) so every later error can point at it.
Nothing here validates record fields; see ``ledger.records``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from ledger import record_yaml
from ledger.canonical import CanonicalError, parse_json
from ledger.errors import InputError

MAX_FILE_BYTES = 64 * 1024 * 1024
"""The most a record file (or standard input) may hold."""
MAX_YAML_BYTES = 1024 * 1024
"""The most YAML input may hold. PyYAML builds a node for every scalar before any
value: a dense 1 MiB flow list (``[1,1,...]``) takes about 2 s and 200 MB to
parse with LibYAML, five times as long with the pure-Python parser, and both
grow linearly. Large batches go in JSON Lines, read in a fraction of that."""
MAX_DOCUMENTS = 100_000
"""The most records or envelopes one input may hold (no batch may hold more:
``ledger.append.MAX_BATCH``). Checked before a document is built, so a dense list
(``[1,1,...]``, 33 million values in 64 MiB) is refused in seconds, not after
building 33 million of them (53 s and 6.7 GB)."""


@dataclass(frozen=True)
class Document:
    """One parsed record or envelope and where it came from."""

    source: str
    data: Any


def read_documents(path: str, *, stdin: BinaryIO | None = None) -> list[Document]:
    """Read every record/envelope in ``path`` (``-`` means ``stdin``).

    At most :data:`MAX_FILE_BYTES` are read from a file or standard input, and
    at most :data:`MAX_YAML_BYTES` are parsed as YAML. A file ending in
    ``.jsonl`` is JSON Lines, ``.json`` JSON, any other suffix YAML; standard
    input (and a file without a suffix) is JSON Lines if every line is an
    object, JSON if it parses as a JSON object or array, else YAML.

    Raises:
        InputError: naming the file (and line) for unreadable, oversized,
            non-UTF-8, malformed or empty input.
    """
    if path == "-":
        label, suffix = "<stdin>", ""
        raw = _read_capped(stdin, label) if stdin is not None else b""
    else:
        label, suffix = path, Path(path).suffix.lower()
        raw = _read_file(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"invalid UTF-8 at byte {e.start} (line {line})", source=label) from e
    if suffix == ".jsonl" or (suffix == "" and _looks_like_jsonl(text)):
        docs = _parse_jsonl(text, label)
    elif suffix == ".json":
        docs = _as_list(_parse_json(text, label), label)
    elif suffix == "" and (data := _json_or_none(text, label)) is not None:
        docs = _as_list(data, label)
    else:
        docs = _as_list(_parse_yaml(text, label, size=len(raw)), label)
    if not docs:
        raise InputError("holds no records", source=label)
    return docs


def parse_json_documents(raw: bytes, label: str) -> list[Document]:
    """Every envelope or record in ``raw``: one JSON object, a JSON array, or JSON Lines
    (two or more lines, each an object). Never YAML: what the HTTP API accepts.

    Raises:
        InputError: naming ``label`` (and line) for non-UTF-8, malformed or empty input.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"invalid UTF-8 at byte {e.start} (line {line})", source=label) from e
    if _looks_like_jsonl(text):
        docs = _parse_jsonl(text, label)
    else:
        docs = _as_list(_parse_json(text, label), label)
    if not docs:
        raise InputError("holds no records", source=label)
    return docs


def _read_file(path: str) -> bytes:
    try:
        if Path(path).stat().st_size > MAX_FILE_BYTES:  # a quick refusal; the read below is capped too
            raise InputError(_too_large(MAX_FILE_BYTES), source=path)
        with open(path, "rb") as f:  # a stream, not stat: FIFOs such as /dev/stdin too
            return _read_capped(f, path)
    except FileNotFoundError as e:
        raise InputError("no such file", source=path) from e
    except IsADirectoryError as e:
        raise InputError("is a directory", source=path) from e
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=path) from e


def _read_capped(stream: BinaryIO, label: str) -> bytes:
    """At most :data:`MAX_FILE_BYTES` from ``stream``; one byte more is refused, not read on."""
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InputError(_too_large(MAX_FILE_BYTES), source=label)
    return data


def _too_large(cap: int) -> str:
    return f"is larger than {cap >> 20} MiB" if cap % (1 << 20) == 0 else f"is larger than {cap:,} bytes"


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of each non-blank line, read lazily.

    JSON Lines are separated by LF (CRLF too: JSON allows the CR); not by U+2028,
    U+0085 or the other breaks ``str.splitlines`` knows, which may sit inside a string.
    """
    start, lineno = 0, 0
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        lineno += 1
        line = text[start:end]
        if line and not line.isspace():
            yield lineno, line
        start = end + 1


_NOT_AN_OBJECT_LINE = re.compile(r"^[ \t\r]*[^ \t\r\n{]", re.MULTILINE)
_OBJECT_LINE = re.compile(r"^[ \t\r]*\{", re.MULTILINE)


def _looks_like_jsonl(text: str) -> bool:
    """Two or more non-blank lines, each starting with ``{`` (decided without splitting the text)."""
    first = _OBJECT_LINE.search(text)
    return (first is not None and _OBJECT_LINE.search(text, first.end()) is not None
            and _NOT_AN_OBJECT_LINE.search(text) is None)


def _parse_json(text: str, label: str) -> Any:
    try:
        return parse_json(text, exact_integers=True)
    except CanonicalError as e:
        raise InputError(str(e), source=label) from e


def _parse_jsonl(text: str, label: str) -> list[Document]:
    docs: list[Document] = []
    for lineno, line in _lines(text):
        _check_count(len(docs) + 1, label)
        docs.append(Document(f"{label}:{lineno}", _parse_json(line, f"{label}:{lineno}")))
    return docs


def _json_or_none(text: str, label: str) -> Any:
    """``text`` parsed as strict JSON if it is a JSON array or object, else None.

    Raises:
        InputError: for broken JSON too large to be read as YAML instead.
    """
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return parse_json(text, exact_integers=True)
    except CanonicalError as e:
        if len(text) > MAX_YAML_BYTES:
            raise InputError(str(e), source=label) from e
        return None  # flow-style YAML, or broken JSON: the YAML reader says why


def _parse_yaml(text: str, label: str, *, size: int) -> Any:
    if size > MAX_YAML_BYTES:
        raise InputError(
            f"YAML input {_too_large(MAX_YAML_BYTES)} ({size:,} bytes): give large batches as JSON Lines "
            f"(a .jsonl file with one record or envelope per line, up to {MAX_FILE_BYTES >> 20} MiB)",
            source=label,
        )
    try:
        docs = record_yaml.load_all(text)
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
        _check_count(len(data), label)
        return [Document(f"{label}[{i}]", d) for i, d in enumerate(data)]
    return [Document(label, data)]


def _check_count(count: int, label: str) -> None:
    if count > MAX_DOCUMENTS:
        raise InputError(f"holds more than {MAX_DOCUMENTS:,} records or envelopes, the most one batch may hold",
                         source=label)
