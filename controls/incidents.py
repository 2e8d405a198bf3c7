"""Serious-incident reporting deadlines, judged from each incident's own dates.

EU AI Act Art 73 sets the latest day a serious incident may be reported to the
market surveillance authority, counted from the day the provider (or, where
applicable, the deployer) became aware of it; the incident's ``impact`` picks
the period. The periods are data (:data:`ART_73`), not branches, so a catalog
names a table (``reporting_deadlines: eu-ai-act-art-73``) and this module
applies it.

Periods are counted as Regulation (EEC, Euratom) No 1182/71 counts periods in
days: the day of awareness is not counted and the period ends at the end of its
last day (UTC). The extension to the next working day when that day is a
weekend or public holiday is not applied, so a deadline is never later than
the law's. Reporting "immediately" after a causal link is established (Art
73(2)-(4)) cannot be judged from dates and is not checked.

This module reads no database and decides nothing else about a control; see
``controls.coverage``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from controls.evidence import Evidence
from ledger.timeutil import parse_timestamp


@dataclass(frozen=True)
class Deadline:
    """How long a serious incident with a given impact may go unreported.

    Attributes:
        days: the period, in days after the day of awareness.
        basis: the provision that sets it.
        case: what the provision calls such an incident, for reasons.
    """

    days: int
    basis: str
    case: str


ART_73: Mapping[str, Deadline] = {
    "widespread": Deadline(2, "Art 73(3)", "a widespread infringement"),
    "critical_infrastructure": Deadline(
        2, "Art 73(3)", "a serious and irreversible disruption of critical infrastructure (Art 3(49)(b))"),
    "death": Deadline(10, "Art 73(4)", "the death of a person"),
    "other": Deadline(15, "Art 73(2)", "a serious incident"),
}
"""Art 73 reporting periods by the incident's ``impact`` (an incident stating none is ``other``)."""

DEADLINES: Mapping[str, Mapping[str, Deadline]] = {"eu-ai-act-art-73": ART_73}
"""Deadline tables by the name a control's ``reporting_deadlines`` gives."""


@dataclass(frozen=True)
class ReportingDue:
    """When one incident had to be reported, and whether and when it was.

    Attributes:
        incident: the incident record.
        deadline: the period that applies to it.
        aware_on: the day awareness began (``aware_at``, else ``observed_at``).
        aware_stated: whether the record states ``aware_at``.
        due: the last day on which the report is in time.
        reported: whether the record says it was reported to the authority.
        reported_at: when, if it says.
    """

    incident: Evidence
    deadline: Deadline
    aware_on: dt.date
    aware_stated: bool
    due: dt.date
    reported: bool
    reported_at: dt.datetime | None

    @property
    def overdue_from(self) -> dt.datetime:
        """The first moment the incident is late if still unreported (the start of the day after ``due``)."""
        return dt.datetime.combine(self.due + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def overdue(self, at: dt.datetime) -> bool:
        """Whether it is unreported past its deadline at ``at``."""
        return not self.reported and at >= self.overdue_from

    def describe(self, at: dt.datetime) -> str:
        """One clause for a reason: the incident, its deadline and where reporting stands."""
        title = self.incident.fields.get("title")
        what = f"serious incident entry {self.incident.seq}" + (f" ({title})" if title else "")
        since = f"{self.deadline.days} days after awareness on {self.aware_on:%Y-%m-%d}" + (
            "" if self.aware_stated else " (aware_at not stated: observed_at used)")
        rule = f"{self.deadline.basis}: {self.deadline.case}"
        if self.overdue(at):
            return (f"{what} not reported to the market surveillance authority by {self.due:%Y-%m-%d} "
                    f"({since}, {rule})")
        if not self.reported:
            return f"{what}: report due by {self.due:%Y-%m-%d} ({since}, {rule})"
        if self.reported_at is None:
            return f"{what} reported (date not stated; due by {self.due:%Y-%m-%d}, {rule})"
        late = " late" if self.reported_at.date() > self.due else ""
        return f"{what} reported{late} on {self.reported_at:%Y-%m-%d} (due by {self.due:%Y-%m-%d}, {rule})"


def reporting_due(incident: Evidence, table: Mapping[str, Deadline]) -> ReportingDue:
    """The reporting deadline of one incident under a deadline table.

    Args:
        incident: an incident record (its ``impact``, ``aware_at``,
            ``reported_to_authority`` and ``reported_at`` are read).
        table: deadlines by impact, with an ``other`` entry for the rest.
    """
    f = incident.fields
    deadline = table.get(str(f.get("impact") or "other"), table["other"])
    aware_at = f.get("aware_at")
    aware_on = (parse_timestamp(aware_at) if aware_at else incident.observed_at).astimezone(dt.UTC).date()
    reported_at = parse_timestamp(f["reported_at"]) if f.get("reported_at") else None
    return ReportingDue(
        incident=incident, deadline=deadline, aware_on=aware_on, aware_stated=bool(aware_at),
        due=aware_on + dt.timedelta(days=deadline.days),
        reported=bool(f.get("reported_to_authority")) or reported_at is not None, reported_at=reported_at,
    )


def reporting_status(
    incidents: list[Evidence], *, table: Mapping[str, Deadline], at: dt.datetime
) -> tuple[str, str, list[Evidence]]:
    """Whether serious incidents were reported in time: status, reason and deciding records.

    Args:
        incidents: the incidents the deadlines apply to (those a control's rule selects).
        table: the deadline table (:data:`DEADLINES`).
        at: when it is judged.

    Returns:
        ``failing`` naming each incident unreported past its deadline, with that
        deadline; else ``covered``, naming each incident's deadline and report (or
        saying none is recorded).
    """
    dues = [reporting_due(i, table) for i in incidents]
    late = [d for d in dues if d.overdue(at)]
    if late:
        return "failing", "; ".join(d.describe(at) for d in late), [d.incident for d in late]
    if not dues:
        return "covered", "no serious incident recorded", []
    return "covered", "; ".join(d.describe(at) for d in dues), [d.incident for d in dues]
