"""Canonical JSON must be exactly RFC 8785, on both the fast and the exact path."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    CanonicalError,
    _c_encode_if_exact,
    canonical_json,
    is_canonical,
    is_canonical_json_of,
    parse_json,
)
from ledger.dsse import Signature
from ledger.entry import LEAF_VERSION, Leaf

# RFC 8785 section 3.2.2 / appendix B number serialisation samples (IEEE-754 → text).
RFC_NUMBERS = [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (333333333.3333333, "333333333.3333333"), (4.5, "4.5"), (2e-3, "0.002"),
    (0.000001, "0.000001"), (9007199254740991, "9007199254740991"), (-1.5e-323, "-1.5e-323"),
]


@pytest.mark.parametrize(("value", "text"), RFC_NUMBERS)
def test_rfc8785_number_samples(value, text) -> None:
    assert canonical_json(value) == text.encode()


def test_rfc8785_section_3_2_3_sorting_example() -> None:
    # Keys sorted by UTF-16 code units: the RFC's own example.
    data = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
    keys = [k for k in json.loads(canonical_json(data))]
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**53 + 1, {"a": -(2**60) - 1}, {1: "x"}, "\ud800"])
def test_unrepresentable_values_raise(bad) -> None:
    with pytest.raises(CanonicalError):
        canonical_json(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_matches_reference_implementation(value) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises(CanonicalError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected
    assert is_canonical(expected)


wider_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=6) | st.integers(0, 9) | st.booleans(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(wider_values)
def test_c_encoder_shortcut_is_taken_only_when_exact(value) -> None:
    """The C ``json`` shortcut either gives the reference bytes or steps aside."""
    text = _c_encode_if_exact(value)
    if text is None:
        return
    assert text.encode("utf-8") == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [{"a": 1.0}, {"a": 1e-7}, {"a": 2**53}, {1: "x"}, {"a": (1, 2)}, {"\U0001f600": 1, "\ufb33": 2}, -0.0],
)
def test_c_encoder_shortcut_steps_aside_where_it_would_differ(value) -> None:
    assert _c_encode_if_exact(value) is None


def test_c_encoder_shortcut_serves_ordinary_records() -> None:
    record = {"kind": "evaluation", "metrics": {"auc": 0.91, "n": 1200}, "passed": True, "controls": ["X-1"]}
    assert _c_encode_if_exact(record) == canonical_json(record).decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [('{"a":1,"a":2}', "duplicate key"), ("[NaN]", "not valid JSON"), (b"\xff", "invalid UTF-8"), ("{", "invalid JSON")],
)
def test_strict_parser_rejects(text, reason) -> None:
    with pytest.raises(CanonicalError, match=reason):
        parse_json(text)


@pytest.mark.parametrize("exact", [False, True])
def test_a_numeral_past_the_digit_limit_is_a_json_error_in_both_readers(exact: bool) -> None:
    with pytest.raises(CanonicalError, match="too large for JSON"):
        parse_json('{"n": ' + "9" * 5000 + "}", exact_integers=exact)
    assert parse_json("[9007199254740993]", exact_integers=exact) == [9007199254740993 if exact else 2.0**53]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(0, 2**53 - 1), st.text(), st.lists(st.tuples(st.text(), st.binary(max_size=80)), max_size=3))
def test_leaf_bytes_are_the_reference_canonical_json(text, seq, payload_type, sigs) -> None:
    """Leaves take the plain-value shortcut; it must be byte-for-byte RFC 8785, any strings in them."""
    leaf = Leaf(origin=text, seq=seq, kind=text[:5], payload_sha256="a" * 64, payload_type=payload_type,
                signatures=tuple(Signature(k, s) for k, s in sigs), idem_key=text[::-1], received_at="2026-11-23T00:00:00Z")
    try:
        expected = rfc8785.dumps(dataclasses.asdict(leaf) | {"v": LEAF_VERSION, "signatures": [
            {"keyid": k, "sig": base64.b64encode(s).decode()} for k, s in sigs]})
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises(CanonicalError):
            leaf.to_bytes()
        return
    assert leaf.to_bytes() == expected


@settings(max_examples=500, deadline=None)
@given(json_values, st.sampled_from(["canonical", "c-encoder", "spaced", "ascii"]))
def test_is_canonical_json_of_decides_exactly(value, spelling) -> None:
    """The shortcut that proves a payload canonical agrees with re-encoding, on any JSON value."""
    try:
        expected = canonical_json(value)
    except CanonicalError:
        expected = None
    data = {
        "canonical": lambda: expected or b"",
        "c-encoder": lambda: json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"),
        "spaced": lambda: json.dumps(value, sort_keys=True).encode("utf-8", "surrogatepass"),
        "ascii": lambda: json.dumps(value, sort_keys=True, separators=(",", ":")).encode(),
    }[spelling]()
    assert is_canonical_json_of(value, data) == (expected == data)


@pytest.mark.parametrize("value", [{"a": 1.0}, {"a": 1e-7}, {"a": 1e21}, {"a": 2**53}, {"a": -0.0}, [1e16], 0.0, 1e-7, 2**60])
def test_is_canonical_json_of_is_not_fooled_by_python_number_spellings(value) -> None:
    python_text = json.dumps(value, separators=(",", ":")).encode()
    assert is_canonical_json_of(value, python_text) == (canonical_json(value) == python_text)
    assert is_canonical_json_of(value, canonical_json(value))


@pytest.mark.parametrize("value", [{"gap": 0.060000000000000005, "auc": 0.8200000000000001}, [1234567890123456.8],
                                   {"model_version": "1.3.0", "suite": "pre-release", "n": 10003}])
def test_long_float_digits_take_the_shortcut(value) -> None:
    """Floats with 17 significant digits are common (0.01 + 0.05) and already in ES layout."""
    from ledger.canonical import _may_differ_from_repr

    data = canonical_json(value)
    assert not _may_differ_from_repr(data)
    assert is_canonical_json_of(value, data)


@pytest.mark.parametrize("value", [[9007199254740993], [-12345678901234567], {"a": 10**16}])
def test_long_integers_do_not(value) -> None:
    from ledger.canonical import _may_differ_from_repr

    python_text = json.dumps(value, separators=(",", ":")).encode()
    assert _may_differ_from_repr(python_text)
    try:
        expected = canonical_json(value) == python_text
    except CanonicalError:  # not exactly a double: no canonical form at all
        expected = False
    assert is_canonical_json_of(value, python_text) == expected


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"1234567890123456", b"9", b"0", b".", b",", b"]", b"e-", b"x"]), max_size=12).map(b"".join))
def test_long_integer_search_agrees_with_the_regular_expression(data) -> None:
    """The byte-search shortcut finds a 16+ digit integer exactly where the regex does."""
    from ledger.canonical import _DIGITS_TO_ZERO, _LONG_INTEGER, _has_long_integer

    assert _has_long_integer(data, data.translate(_DIGITS_TO_ZERO)) == (_LONG_INTEGER.search(data) is not None)
