"""RFC 3339 timestamps, normalised in one place: UTC, ``Z``, no naive times."""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: object) -> dt.datetime:
    """Parse an RFC 3339 timestamp (or a date, meaning 00:00 UTC) into an aware UTC datetime.

    YAML hands over ``datetime``/``date`` objects for unquoted timestamps; those are
    accepted too, but a naive datetime is refused: a governance record must say
    which instant it means.

    Raises:
        ValueError: with a reason a user can act on.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp has no timezone; add one, e.g. 'Z' for UTC")
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    if _DATE.match(value):
        try:
            d = dt.date.fromisoformat(value)
        except ValueError as e:
            raise ValueError(f"invalid date {value!r}: {e}") from e
        return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)
    m = _RFC3339.match(value)
    if not m:
        raise ValueError(
            f"invalid timestamp {value!r}: expected RFC 3339 like 2026-01-31T12:00:00Z"
        )
    frac = (m.group(7) or "")[:7]  # datetime keeps microseconds
    text = f"{value[:10]}T{value[11:19]}{frac}{m.group(8).upper()}"
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise ValueError(f"invalid timestamp {value!r}: {e}") from e
    return parsed.astimezone(dt.UTC)


def format_timestamp(value: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with ``Z`` (microseconds only if non-zero)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(dt.UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(fmt)


_NORMAL = re.compile(r"^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


def normalize_timestamp(value: object) -> str:
    """Parse then format: the one canonical text form of a timestamp."""
    if isinstance(value, str) and _NORMAL.match(value) and not value.endswith(".000000Z"):
        try:
            dt.datetime.fromisoformat(value)  # the range checks (month 13, Feb 30)
            return value  # already the text format_timestamp gives
        except ValueError:
            pass  # parse_timestamp says why
    return format_timestamp(parse_timestamp(value))


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def parse_duration(text: str, *, field: str | None = None) -> dt.timedelta:
    """``30d``, ``2w``, ``12h`` → a timedelta (what ``--expires``, ``--forecast`` and the like take).

    Raises:
        InputError: for anything else, naming ``field``.
    """
    from ledger.errors import InputError

    m = re.fullmatch(r"(\d{1,6})\s*([dwh])", text.strip().lower())
    if not m:
        raise InputError(f"invalid duration {text!r}: use e.g. 30d, 2w or 12h", field=field)
    n, unit = int(m.group(1)), m.group(2)
    return {"d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n), "h": dt.timedelta(hours=n)}[unit]


def parse_as_of(text: str | None, *, field: str = "--as-of") -> dt.datetime:
    """An ``as of`` time: RFC 3339 or a date; now when not given.

    Raises:
        InputError: naming ``field`` for anything else.
    """
    from ledger.errors import InputError

    if not text:
        return utcnow()
    try:
        return parse_timestamp(text)
    except ValueError as e:
        raise InputError(str(e), field=field) from e
