"""Canonical JSON (RFC 8785, JCS): the only encoder whose output is hashed or signed.

``canonical_json`` takes a fast path through the C ``json`` encoder when the value
cannot expose a difference between ``json.dumps(sort_keys=True)`` and RFC 8785:
no floats, integers within ±(2**53 - 1), and no object key with a code point at or
above U+D800 (where code-point order and UTF-16 order can differ). Anything else
goes through the ``rfc8785`` package. A property test checks that both paths give
identical bytes.

``parse_json`` is the strict reader used before anything is verified: UTF-8 only,
duplicate object keys rejected (Python would silently keep the last one, which
allows parser-differential attacks), NaN and Infinity rejected.

This module does not decide *what* is hashed; see ``ledger.records`` and
``ledger.entry``.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

MAX_SAFE_INT = 2**53 - 1


class CanonicalError(ValueError):
    """A value that RFC 8785 cannot represent, or bytes that are not strict JSON."""


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON-compatible value.

    Raises:
        CanonicalError: for NaN/Infinity, integers beyond ±(2**53-1), non-string
            keys, lone surrogates or other non-JSON values.
    """
    if _fast_path_ok(value):
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode("utf-8")
        except (UnicodeEncodeError, TypeError, ValueError) as e:
            raise CanonicalError(f"not representable as canonical JSON: {e}") from e
    try:
        return rfc8785.dumps(_big_ints_as_doubles(value))
    except (rfc8785.CanonicalizationError, TypeError, UnicodeEncodeError, ValueError) as e:
        raise CanonicalError(f"not representable as canonical JSON: {e}") from e


def _big_ints_as_doubles(value: Any) -> Any:
    """JSON numbers are IEEE doubles (RFC 8785): an integer beyond 2**53 that a double
    represents exactly (it may come from parsing ``9007199254740992``) is that double;
    any other large integer is left for rfc8785 to refuse."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > MAX_SAFE_INT:
        try:
            as_float = float(value)
        except OverflowError:
            return value
        return as_float if int(as_float) == value else value
    if isinstance(value, dict):
        return {k: _big_ints_as_doubles(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_as_doubles(v) for v in value]
    return value


def _fast_path_ok(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str) or v is None or isinstance(v, bool):
            continue
        if isinstance(v, int):
            if -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                continue
            return False
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str) or (k and max(k) >= "\ud800"):
                    return False
                stack.append(item)
            continue
        if isinstance(v, list | tuple):
            stack.extend(v)
            continue
        return False  # floats and anything unusual take the exact path
    return True


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CanonicalError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    # JSON numbers are IEEE doubles: an integer numeral beyond 2**53 means the double.
    value = int(text)
    return float(value) if abs(value) > MAX_SAFE_INT else value


def parse_json(data: bytes | str) -> Any:
    """Parse strict JSON: UTF-8, no duplicate keys, no NaN/Infinity.

    Raises:
        CanonicalError: with the reason (and position for syntax errors).
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CanonicalError(f"invalid UTF-8 at byte {e.start}") from e
    else:
        text = data
    try:
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as e:
        raise CanonicalError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise CanonicalError("JSON nested too deeply") from e


def is_canonical(data: bytes) -> bool:
    """True if ``data`` is strict JSON already in RFC 8785 canonical form."""
    try:
        return canonical_json(parse_json(data)) == data
    except CanonicalError:
        return False
