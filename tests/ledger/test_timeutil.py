"""Timestamps have one text form; the shortcut for text already in it must agree with the full parse."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.timeutil import format_timestamp, normalize_timestamp, parse_timestamp

instants = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC))


def _slow(value: str) -> str:
    return format_timestamp(parse_timestamp(value))


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S+00:00",
                                  "%Y-%m-%d %H:%M:%Sz", "%Y-%m-%d"]))
def test_every_spelling_of_an_instant_normalises_alike(when, fmt) -> None:
    text = when.strftime(fmt)
    assert normalize_timestamp(text) == _slow(text)
    assert normalize_timestamp(normalize_timestamp(text)) == normalize_timestamp(text)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z\Z"))
def test_shortcut_refuses_what_the_full_parse_refuses(text) -> None:
    try:
        expected = _slow(text)
    except ValueError as e:
        with pytest.raises(ValueError, match="invalid timestamp"):
            normalize_timestamp(text)
        assert str(e)
        return
    assert normalize_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z"])
def test_impossible_dates_are_refused_with_the_reason(text) -> None:
    with pytest.raises(ValueError, match=f"invalid timestamp '{text}'"):
        normalize_timestamp(text)
