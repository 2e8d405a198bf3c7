"""Rules a single record must meet on its own, whatever the ledger holds.

Each rule is a plain function of field values, so the same code decides at
append (through the pydantic validators in :mod:`ledger.records`) and in
``assure verify`` (through :func:`record_problem`, on the payload's JSON
mapping, without pydantic). Rules that need other entries (references,
registrations, who signed what) live in :mod:`ledger.references`; rules about
time in :mod:`ledger.time_rules`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ledger.timeutil import format_timestamp

ORG_WIDE = "*"

#: Kinds that are always about one system: ``system: "*"`` is refused for them.
SYSTEM_BOUND_KINDS = frozenset({"model_version", "evaluation", "risk_assessment", "incident"})


def org_wide_problem(kind: str, system: str) -> str | None:
    """Why ``system`` may not be ``*`` for a ``kind`` record, or None."""
    if system == ORG_WIDE and kind in SYSTEM_BOUND_KINDS:
        return (
            f"'*' (organisation-wide) is not allowed for {kind} records: name the system "
            "(only policies, procedures, training and other organisation-level evidence use '*')"
        )
    return None


def threshold_breach(value: float, bounds: Mapping[str, Any]) -> str | None:
    """How ``value`` misses ``{min, max}``, or None if it meets them."""
    low, high = bounds.get("min"), bounds.get("max")
    if low is not None and value < low:
        return f"{value!r} is below its minimum {low!r}"
    if high is not None and value > high:
        return f"{value!r} is above its maximum {high!r}"
    return None


def evaluation_problem(
    metrics: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, Any]], passed: bool
) -> str | None:
    """Why ``passed`` contradicts the run's own metrics and thresholds, or None.

    A run may not claim to pass while a metric misses its own threshold. The
    other way round is allowed: a run can fail for reasons its thresholds do not
    capture (a crash, a missing metric), and a failure must always be recordable.
    """
    breaches = [
        f"metric {name!r} {why}"
        for name, bounds in thresholds.items()
        if name in metrics and (why := threshold_breach(metrics[name], bounds)) is not None
    ]
    if passed and breaches:
        return "passed is true but " + "; ".join(breaches)
    return None


def after_problem(later: dt.datetime, earlier: dt.datetime, *, later_name: str, earlier_name: str) -> str | None:
    """Why ``later`` is not after ``earlier``, or None."""
    if later <= earlier:
        return f"{later_name} must be after {earlier_name} ({format_timestamp(earlier)})"
    return None


#: Incident impacts that make an incident serious by definition (Art 3(49), Art 73(3)).
SERIOUS_IMPACTS = frozenset({"death", "critical_infrastructure", "widespread"})


def incident_problem(
    *, observed_at: dt.datetime, aware_at: dt.datetime | None, reported_at: dt.datetime | None,
    reported_to_authority: bool, serious: bool, impact: str | None,
) -> tuple[str, str] | None:
    """Why an incident's reporting fields contradict each other: (field, reason), or None.

    A report date needs ``reported_to_authority``; neither awareness nor the report
    may come after the record's ``observed_at`` (a record cannot observe what has not
    happened yet), and the report cannot precede awareness. A death, a disruption of
    critical infrastructure or a widespread infringement is a serious incident.
    """
    if impact in SERIOUS_IMPACTS and not serious:
        return "serious", f"impact {impact!r} makes it a serious incident (Art 3(49), Art 73(3)): set serious: true"
    if reported_at is not None and not reported_to_authority:
        return "reported_to_authority", "reported_at is set, so reported_to_authority must be true"
    for name, value in (("aware_at", aware_at), ("reported_at", reported_at)):
        if value is not None and value > observed_at:
            return name, f"{name} must not be after observed_at ({format_timestamp(observed_at)})"
    if aware_at is not None and reported_at is not None and reported_at < aware_at:
        return "reported_at", f"reported_at must not be before aware_at ({format_timestamp(aware_at)})"
    return None


def record_problem(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first rule of this module a record (as its JSON mapping) breaks: (field, reason).

    Used by ``assure verify`` on stored payloads, which were valid records when
    appended; so this assumes the fields are well-formed and only re-checks the
    rules themselves.
    """
    kind = obj.get("kind")
    system = obj.get("system")
    if isinstance(system, str) and (why := org_wide_problem(str(kind), system)):
        return "system", why
    try:
        if kind == "evaluation":
            why = evaluation_problem(obj.get("metrics") or {}, obj.get("thresholds") or {}, bool(obj.get("passed")))
            return ("passed", why) if why else None
        if kind == "exception":
            why = after_problem(_ts(obj["expires_at"]), _ts(obj["observed_at"]),
                                later_name="expires_at", earlier_name="observed_at")
            return ("expires_at", why) if why else None
        if kind == "incident":
            return incident_problem(
                observed_at=_ts(obj["observed_at"]), aware_at=_opt_ts(obj.get("aware_at")),
                reported_at=_opt_ts(obj.get("reported_at")),
                reported_to_authority=bool(obj.get("reported_to_authority")), serious=bool(obj.get("serious")),
                impact=obj.get("impact"),
            )
        if kind == "key.trust" and obj.get("valid_from") and obj.get("valid_until"):
            why = after_problem(_ts(obj["valid_until"]), _ts(obj["valid_from"]),
                                later_name="valid_until", earlier_name="valid_from")
            return ("valid_until", why) if why else None
    except (KeyError, TypeError, ValueError) as e:
        return "(record)", f"malformed: {e}"
    return None


def _ts(value: Any) -> dt.datetime:
    # Stored records hold normalised RFC 3339 UTC "Z" text.
    return dt.datetime.fromisoformat(str(value))


def _opt_ts(value: Any) -> dt.datetime | None:
    return None if value is None else _ts(value)
