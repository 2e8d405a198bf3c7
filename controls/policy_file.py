"""An approval policy file's YAML, parsed once per content and kept in the per-user cache.

Every command that judges approvals reads the policy; parsing it needs PyYAML and the
strict scalar rules of :mod:`ledger.record_yaml`, whose import alone costs a query
about a tenth of its time. So the parsed document is kept as JSON in the private
per-user cache (:mod:`frameworks.disk_cache`), keyed by the SHA-256 of the file's
bytes and of the parser's code: an edited file, or a changed parser, is parsed again.
Only a document that JSON holds exactly (the same values, keys and types back) is kept.
What is read from the cache is validated as the parsed file would be
(:func:`controls.approvals.load_policy`): the cache only spares the parse.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from frameworks import disk_cache
from ledger.errors import InputError

_LEDGER = Path(__file__).resolve().parent.parent / "ledger"
_PARSER_FILES = ("record_yaml.py", "yaml_limits.py")


def read_document(path: Path) -> Any:
    """The one YAML document in ``path``, parsed strictly (duplicate keys, ambiguous scalars refused).

    Raises:
        InputError: naming the file: unreadable, not UTF-8, invalid YAML, or not one document.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=str(path)) from e
    cached = _cache_path(data)
    raw = disk_cache.read_private(cached) if cached is not None else None
    if raw is not None:
        try:
            return json.loads(raw)
        except ValueError:
            pass  # a damaged cache file: parse the policy again
    document = _parse(data, path)
    if cached is not None:
        text = _exact_json(document)
        if text is not None:
            disk_cache.write_private(cached, text.encode(), keep="policy-*.json")
    return document


def _parse(data: bytes, path: Path) -> Any:
    import yaml

    from ledger.record_yaml import load_all

    try:
        documents = load_all(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise InputError(f"invalid YAML: {e}", source=str(path)) from e
    if len(documents) != 1:
        raise InputError(f"expected one YAML document, found {len(documents)}", source=str(path))
    return documents[0]


def _exact_json(document: Any) -> str | None:
    """``document`` as JSON, if reading that JSON gives back an equal document; else None.

    JSON keeps the types of values (an int stays an int, ``true`` a bool), so equality is
    exactness; what it changes is a key that is not a string (``1:`` comes back ``"1"``),
    which equality sees."""
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a date, a set, NaN: not JSON
        return None
    return text if json.loads(text) == document else None


def _cache_path(data: bytes) -> Path | None:
    directory = disk_cache.cache_dir()
    if directory is None:
        return None
    key = hashlib.sha256(data).hexdigest()
    return directory / f"policy-{key[:32]}-{_parser_fingerprint()[:16]}.json"


@cache
def _parser_fingerprint() -> str:
    """SHA-256 over the parser's sources and PyYAML's ``__init__`` (its version), found without importing it."""
    from importlib.util import find_spec

    spec = find_spec("yaml")
    files = [_LEDGER / name for name in _PARSER_FILES] + ([Path(spec.origin)] if spec and spec.origin else [])
    h = hashlib.sha256()
    for file in files:
        h.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return h.hexdigest()
