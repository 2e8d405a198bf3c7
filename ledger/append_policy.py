"""The organisation's settings that append enforces: clock skew and exception limits.

The defaults hold when no approval policy file says otherwise; the CLI builds
an :class:`AppendPolicy` from the approval policy (``controls/``), so limits are
written down once. ``controls.exceptions`` applies the same limits when the
ledger is read, against the system's classification in force at the time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ledger.time_rules import DEFAULT_MAX_SKEW
from ledger.wording import a

TIER_ORDER = {"low": 0, "medium": 1, "high": 2}
DEFAULT_EXCEPTION_MAX_DAYS: Mapping[str, int] = MappingProxyType({"low": 365, "medium": 365, "high": 180})
DEFAULT_COMPENSATING_REQUIRED = frozenset({"high"})


@dataclass(frozen=True)
class AppendPolicy:
    """What append enforces beyond the record's own form.

    Attributes:
        max_skew: how far ``observed_at`` may be ahead of the ledger's clock.
        exception_max_days: the longest exception (``expires_at - observed_at``)
            per internal risk tier.
        compensating_required: tiers whose exceptions must name compensating controls.
    """

    max_skew: dt.timedelta = DEFAULT_MAX_SKEW
    exception_max_days: Mapping[str, int] = field(default_factory=lambda: DEFAULT_EXCEPTION_MAX_DAYS)
    compensating_required: frozenset[str] = DEFAULT_COMPENSATING_REQUIRED


def strictest_tier(tiers: list[str]) -> str | None:
    """The highest internal risk tier among ``tiers`` (None if empty)."""
    return max(tiers, key=lambda t: TIER_ORDER.get(t, 0)) if tiers else None


def exception_problem(
    *, observed_at: dt.datetime, expires_at: dt.datetime, compensating: list[str], tier: str | None,
    policy: AppendPolicy,
) -> tuple[str, str] | None:
    """Why an exception for a system of ``tier`` breaks the policy: (field, reason), or None."""
    if tier is None:
        return None
    limit = policy.exception_max_days.get(tier)
    if limit is not None and expires_at - observed_at > dt.timedelta(days=limit):
        days = (expires_at - observed_at).days
        return "expires_at", f"runs {days} days; exceptions for {tier}-tier systems may run at most {limit} days"
    if tier in policy.compensating_required and not compensating:
        return "compensating_controls", f"an exception for {a(tier)}-tier system must name compensating controls"
    return None
