"""Canonical JSON (RFC 8785, JCS): the only encoder whose output is hashed or signed.

``canonical_json`` is a small encoder of our own: strings go through the C
``json`` string escaper (whose escaping is exactly RFC 8785's), numbers through
ECMAScript's Number-to-string layout over Python's shortest round-trip digits,
and object members are sorted by UTF-16 code units. A property test checks it
byte for byte against the ``rfc8785`` reference package, which is about four
times slower.

``parse_json`` is the strict reader used before anything is verified: UTF-8 only,
duplicate object keys rejected (Python would silently keep the last one, which
allows parser-differential attacks), NaN and Infinity rejected.
:func:`unsafe_number_problem` is the rule by which records refuse integral values
beyond ±(2**53-1), which JSON readers would round.

This module does not decide *what* is hashed; see ``ledger.records`` and
``ledger.entry``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

MAX_SAFE_INT = 2**53 - 1

encode_json_string: Callable[[str], str] = encode_basestring
"""A string as a JSON literal, escaped exactly as RFC 8785 (and this module's encoder) escape it."""


class CanonicalError(ValueError):
    """A value that RFC 8785 cannot represent, or bytes that are not strict JSON."""


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON-compatible value.

    Raises:
        CanonicalError: for NaN/Infinity, integers beyond ±(2**53-1) that no double
            represents exactly, non-string keys, lone surrogates or other non-JSON values.
    """
    text = _c_encode_if_exact(value)
    try:
        if text is None:
            parts: list[str] = []
            _encode(value, parts.append)
            text = "".join(parts)
        return text.encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError, RecursionError) as e:
        raise CanonicalError(f"not representable as canonical JSON: {e}") from e


# How Python's repr may spell a number differently from ECMAScript: with an
# exponent ("1e-07", "1e+16"), as an integral float ("1.0", "-0.0"), or as an
# integer of 16+ digits (maybe beyond 2**53; the long fraction digits of a float
# like 0.060000000000000005 are fine). These match inside strings too, which only
# sends more cases the slow way. The tests run on a copy with every digit made
# "0", where each is a byte search (a regular expression tries every position:
# about 5 us for a 300-byte record, as much as the rest of the proof).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_INTEGRAL_FLOAT = re.compile(rb"\.0(?:[,\]}]|\Z)")
_SIXTEEN_DIGITS = b"0" * 16
_LONG_INTEGER = re.compile(rb"(?<![0-9.])[0-9]{16,}(?![0-9.])")
_DIGIT_RUN = re.compile(rb"[0-9]+")


def _may_differ_from_repr(data: bytes) -> bool:
    """True unless ``data`` surely spells every number as ECMAScript does and has
    no key beyond U+FFFF."""
    if not data.isascii():  # 4-byte UTF-8 could be a key that sorts differently
        return True
    zeros = data.translate(_DIGITS_TO_ZERO)
    return (
        b"0e-" in zeros
        or b"0e+" in zeros
        or _INTEGRAL_FLOAT.search(data) is not None
        or _has_long_integer(data, zeros)
    )


def _has_long_integer(data: bytes, zeros: bytes) -> bool:
    """``_LONG_INTEGER.search(data)``, matched only where a run of 16+ digits starts.

    Such runs are rare apart from the fraction digits of floats like
    0.8200000000000001, which the match at the run's start rules out at once.
    """
    start = zeros.find(_SIXTEEN_DIGITS)
    while start >= 0:  # the leftmost hit is where a run of digits begins
        if _LONG_INTEGER.match(data, start):
            return True
        run = _DIGIT_RUN.match(data, start)
        assert run is not None
        start = zeros.find(_SIXTEEN_DIGITS, run.end())
    return False


def is_canonical_json_of(value: Any, data: bytes) -> bool:
    """``canonical_json(value) == data``, decided without re-encoding in Python when possible.

    ``value`` must be JSON data as a JSON reader or a JSON-mode model dump gives
    it: string keys, lists, and str/int/float/bool/None. The C encoder's text is
    then the canonical text unless a number is spelled differently or keys go
    beyond U+FFFF; if the text equals ``data`` and ``data`` holds no such
    spelling (and no 4-byte UTF-8 at all), they are equal. Anything else is
    decided by :func:`canonical_json`.
    """
    if _C_ITERENCODE is not None:
        try:
            text = "".join(_C_ITERENCODE(value, 0)).encode("utf-8")
        except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
            text = None
        if text == data and not _may_differ_from_repr(data):
            return True
    try:
        return canonical_json(value) == data
    except CanonicalError:
        return False


class _NotExact(Exception):
    pass


def _float_token(token: str) -> float:
    # ``repr`` and ECMAScript agree on fixed notation of a non-integral double;
    # they differ on exponents ("1e-07" vs "1e-7") and integral values ("1.0" vs "1").
    if "e" in token or token.endswith(".0"):
        raise _NotExact
    return float(token)


def _int_token(token: str) -> int:
    value = int(token)
    if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        raise _NotExact
    return value


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


# The C encoder behind json.dumps(sort_keys=True, separators=(",", ":"),
# ensure_ascii=False, allow_nan=False), built once rather than per call.
_C_ITERENCODE = (
    c_make_encoder(None, _not_json, encode_basestring, None, ":", ",", True, False, False) if c_make_encoder else None
)
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_CHECK_DECODE = json.JSONDecoder(parse_float=_float_token, parse_int=_int_token).decode


def _c_encode_if_exact(value: Any) -> str | None:
    """The C ``json`` encoder's text when it is provably the RFC 8785 text, else None.

    With sorted keys, no whitespace and raw UTF-8 the two differ only in number
    layout, in key order for characters beyond U+FFFF (code points versus UTF-16
    units), and in what the C encoder quietly accepts (non-string keys, tuples,
    huge integers). Reading the text back settles all of it: every number token is
    checked, and the value read back must equal the input. The slow encoder then
    handles (or rejects, with its message) whatever is left.
    """
    if _C_ITERENCODE is None:  # a Python without the C accelerator
        return None
    try:
        text = "".join(_C_ITERENCODE(value, 0))
        if not text.isascii() and _NON_BMP.search(text):
            return None
        return text if _CHECK_DECODE(text) == value else None
    except (_NotExact, TypeError, ValueError, RecursionError):
        return None


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _encode(v: Any, emit: Callable[[str], Any]) -> None:
    if isinstance(v, str):
        emit(encode_basestring(v))
    elif v is None:
        emit("null")
    elif v is True:
        emit("true")
    elif v is False:
        emit("false")
    elif isinstance(v, int):
        if -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            emit(str(v))
        else:
            as_double = float(v)  # JSON numbers are IEEE doubles (RFC 8785 section 3.2.2.3)
            if int(as_double) != v:
                raise ValueError(f"integer {v} is not exactly representable as a JSON number")
            emit(es_number(as_double))
    elif isinstance(v, float):
        emit(es_number(v))
    elif isinstance(v, dict):
        keys = list(v)
        for k in keys:
            if not isinstance(k, str):
                raise TypeError(f"object keys must be strings, not {type(k).__name__}")
        # Members sorted by UTF-16 code units; equal to code-point order below U+D800.
        joined = "".join(keys)
        if joined and max(joined) >= "\ud800":
            keys.sort(key=_utf16_key)
        else:
            keys.sort()
        emit("{")
        first = True
        for k in keys:
            if not first:
                emit(",")
            first = False
            emit(encode_basestring(k))
            emit(":")
            _encode(v[k], emit)
        emit("}")
    elif isinstance(v, list | tuple):
        emit("[")
        for i, item in enumerate(v):
            if i:
                emit(",")
            _encode(item, emit)
        emit("]")
    else:
        raise TypeError(f"{type(v).__name__} is not a JSON value")


def es_number(f: float) -> str:
    """ECMAScript Number::toString of a double (RFC 8785 section 3.2.2.3).

    Python's ``repr`` gives the shortest round-tripping digits, as ECMAScript does;
    only the layout (exponent thresholds, ``e+``) differs.
    """
    if not math.isfinite(f):
        raise ValueError("NaN and Infinity are not JSON")
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) <= MAX_SAFE_INT:
        return str(int(f))
    r = repr(f)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    if "e" in r:
        m, e = r.split("e")
        exp = int(e)
    else:
        m, exp = r, 0
    if "." in m:
        ip, fp = m.split(".")
    else:
        ip, fp = m, ""
    s = ip + fp
    point = len(ip) + exp
    z = len(s) - len(s.lstrip("0"))
    s = s[z:].rstrip("0")
    n = point - z
    k = len(s)
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + s
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        out = (s + "e" + es) if k == 1 else (s[0] + "." + s[1:] + "e" + es)
    return sign + out


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # C speed; only a mismatch needs the slow search for the name
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise CanonicalError(f"duplicate key {k!r}")
            seen.add(k)
    return out


def _reject_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    # JSON numbers are IEEE doubles: an integer numeral beyond 2**53 means the double.
    value = _parse_exact_int(text)
    try:
        return float(value) if abs(value) > MAX_SAFE_INT else value
    except OverflowError as e:  # beyond a double
        raise CanonicalError(f"number {text[:20]}… ({len(text)} digits) is too large for JSON") from e


def _parse_exact_int(text: str) -> int:
    try:
        return int(text)
    except ValueError as e:  # beyond Python's digit limit
        raise CanonicalError(f"number {text[:20]}… ({len(text)} digits) is too large for JSON") from e


def unsafe_number_problem(value: float) -> str | None:
    """Why ``value`` is a number JSON readers may not hold exactly, or None.

    JSON numbers are IEEE doubles for most readers, which hold every integer
    within ±(2**53-1) exactly and no others reliably (I-JSON, RFC 7493): an
    integral value beyond that range (``9007199254740993``, ``1e30``) would be
    read back as a different number, so it is refused rather than rounded.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if (isinstance(value, int) or value.is_integer()) and abs(value) > MAX_SAFE_INT:
        digits = str(value)
        shown = digits if len(digits) <= 30 else f"{digits[:20]}… ({len(digits.lstrip('-'))} digits)"
        return (f"{shown} is an integral value beyond ±{MAX_SAFE_INT} (2**53-1), which JSON numbers "
                "do not hold exactly; give it in larger units (e.g. millions)")
    return None


STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_int=_parse_int
)
"""The strict reader (built once). Its ``scan_once`` parses a value without the
whitespace handling of ``decode``, for callers that read many canonical payloads."""
# Integers as the C scanner builds them (a parse_int hook costs ~0.3 µs per number: 13 s on a
# dense 64 MiB array); a numeral past Python's digit limit raises ValueError, caught in parse_json.
_EXACT_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def parse_json(data: bytes | str, *, exact_integers: bool = False) -> Any:
    """Parse strict JSON: UTF-8, no duplicate keys, no NaN/Infinity.

    Args:
        data: the JSON text.
        exact_integers: keep an integer numeral beyond ±(2**53-1) as the exact
            integer written, for input that is checked before it is signed
            (records refuse such numbers by value, see :func:`unsafe_number_problem`);
            by default it is the double it denotes, as RFC 8785 reads it.

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
        return (_EXACT_DECODER if exact_integers else STRICT_DECODER).decode(text)
    except CanonicalError:  # a hook's own reason
        raise
    except json.JSONDecodeError as e:
        raise CanonicalError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise CanonicalError("JSON nested too deeply") from e
    except ValueError as e:  # only the exact reader's int(): a numeral past Python's digit limit
        raise CanonicalError(f"a number is too large for JSON (over {sys.get_int_max_str_digits()} digits)") from e


def is_canonical(data: bytes) -> bool:
    """True if ``data`` is strict JSON already in RFC 8785 canonical form."""
    try:
        return canonical_json(parse_json(data)) == data
    except CanonicalError:
        return False
