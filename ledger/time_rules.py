"""Rules about time: when a record may say it was observed, and that receive times only go forward.

``received_at`` is the ledger's own clock, written into every leaf; key
validity is judged at it. ``observed_at`` is the submitter's claim. A record
observed in the future (beyond a small clock skew) is refused: otherwise a
run dated 2099 would stay the newest evidence for ever. And an append whose
clock is behind the last entry is refused, so setting the clock back cannot
slip a record in under a key that has expired since.
"""

from __future__ import annotations

import datetime as dt

DEFAULT_MAX_SKEW = dt.timedelta(minutes=5)
"""How far ``observed_at`` may be ahead of ``received_at`` (clocks differ a little)."""


def observed_problem(observed_at: dt.datetime, received_at: dt.datetime, *, max_skew: dt.timedelta) -> str | None:
    """Why a record observed at ``observed_at`` may not be received at ``received_at``, or None."""
    if observed_at > received_at + max_skew:
        return (
            f"observed_at {_fmt(observed_at)} is in the future (received at {_fmt(received_at)}; "
            f"at most {_fmt_skew(max_skew)} of clock skew is allowed)"
        )
    return None


def clock_problem(received_at: dt.datetime, last_received: dt.datetime) -> str | None:
    """Why an entry received at ``received_at`` may not follow one received at ``last_received``."""
    if received_at < last_received:
        return (
            f"this clock ({_fmt(received_at)}) is behind the ledger's last entry, received at "
            f"{_fmt(last_received)}: receive times never go backwards; fix the clock (NTP) and retry"
        )
    return None


def key_window_problem(valid_until: dt.datetime | None, received_at: dt.datetime) -> str | None:
    """Why a key whose validity ends at ``valid_until`` may not be trusted at ``received_at``."""
    if valid_until is not None and valid_until <= received_at:
        return f"valid_until {_fmt(valid_until)} has already passed: a key cannot be trusted after its validity"
    return None


def _fmt(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_skew(skew: dt.timedelta) -> str:
    seconds = int(skew.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
