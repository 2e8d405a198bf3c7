"""Exceptions (risk acceptances): when they are active, and what is about to expire.

An exception is *active* from the moment the approval policy is met until
``expires_at``, unless retracted. Before that it is *pending* (or *rejected*);
after it, *expired*, and its controls fall back to their evidence status at once.
One that breaks the policy's limits for the system's tier in force (too long, or
no compensating controls where they are required) is *invalid* and never active.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from controls.approvals import ApprovalPolicy, Decision, exception_limit_problem
from controls.evidence import Evidence
from controls.state import SystemView
from ledger.timeutil import format_timestamp


@dataclass
class ExceptionStatus:
    """One exception and where it stands at ``as_of``."""

    system: str
    record: Evidence
    decision: Decision
    state: str  # active | pending | rejected | expired | invalid
    as_of: dt.datetime
    problem: str | None = None
    """Why it is invalid."""

    @property
    def controls(self) -> list[str]:
        """Controls it waives."""
        return list(self.record.fields.get("controls", []))

    @property
    def compensating_controls(self) -> list[str]:
        """Controls that compensate while it is active."""
        return list(self.record.fields.get("compensating_controls", []))

    @property
    def expires_at(self) -> dt.datetime:
        """When it stops covering its controls."""
        assert self.record.expires_at is not None
        return self.record.expires_at

    def expiring_within(self, window: dt.timedelta) -> bool:
        """Active, and expiring within ``window`` of ``as_of`` (what 'assure exceptions --expiring' lists)."""
        return self.state == "active" and self.expires_at <= self.as_of + window

    @property
    def days_left(self) -> int:
        """Whole days from ``as_of`` to expiry (negative once expired)."""
        return (self.expires_at - self.as_of).days

    @property
    def active_from(self) -> dt.datetime | None:
        """When the approval policy was met."""
        return self.decision.decided_at if self.decision.status == "approved" else None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        f = self.record.fields
        return {
            "system": self.system,
            "seq": self.record.seq,
            "entry_hash": self.record.entry_hash,
            "state": self.state,
            "owner": f.get("owner"),
            "controls": self.controls,
            "compensating_controls": self.compensating_controls,
            "rationale": f.get("rationale"),
            "remediation": f.get("remediation"),
            "expires_at": format_timestamp(self.expires_at),
            "days_left": self.days_left,
            "active_from": format_timestamp(self.active_from) if self.active_from else None,
            "approval": self.decision.to_json(),
            "problem": self.problem,
        }


def exception_statuses(view: SystemView, *, policy: ApprovalPolicy) -> list[ExceptionStatus]:
    """Every live exception of the system, with its state at ``view.as_of``."""
    out = []
    for rec in view.of_kind("exception"):
        if rec.system != view.system:
            continue
        d = view.decide(rec, policy=policy)
        problem = exception_limit_problem(rec, tier=view.risk_tier, policy=policy)
        if problem:
            state = "invalid"
        elif rec.expires_at is not None and rec.expires_at <= view.as_of:
            state = "expired"
        elif d.status == "approved":
            state = "active"
        else:
            state = d.status  # pending | rejected
        out.append(ExceptionStatus(view.system, rec, d, state, view.as_of, problem))
    return out


def active_exceptions_by_control(statuses: list[ExceptionStatus]) -> dict[str, ExceptionStatus]:
    """The active exception covering each control (the one expiring last)."""
    out: dict[str, ExceptionStatus] = {}
    for s in statuses:
        if s.state != "active":
            continue
        for c in s.controls:
            if c not in out or s.expires_at > out[c].expires_at:
                out[c] = s
    return out
