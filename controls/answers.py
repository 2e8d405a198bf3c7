"""Answers shared by the CLI's ``--json`` and the HTTP API: one library call behind both.

Each function takes parsed arguments (times, durations, framework ids) and returns
result objects whose ``to_json`` is exactly what ``assure CMD --json`` prints and
what ``assure serve`` answers. Parsing command lines or query strings, and
printing, stay with the callers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controls import service

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from controls.approvals import ApprovalPolicy
    from controls.exceptions import ExceptionStatus
    from controls.graph import ControlGraph


@dataclass(frozen=True)
class GapsAnswer:
    """What ``assure gaps`` reports: the gaps now, what lapses within a window, what starts to apply."""

    system: str
    found: list[Any]
    lapsing: list[Any] | None
    upcoming: list[Any] | None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form (``forecast`` / ``upcoming`` are null unless asked for)."""
        return {"system": self.system, "gaps": [x.to_json() for x in self.found],
                "forecast": [x.to_json() for x in self.lapsing] if self.lapsing is not None else None,
                "upcoming": [r.to_json() for r in self.upcoming] if self.upcoming is not None else None}


def gaps(
    engine: Engine, system: str, *, graph: ControlGraph, policy: ApprovalPolicy, frameworks: list[str] | None,
    as_of: dt.datetime, forecast: dt.timedelta | None = None, horizon_days: int | None = None,
) -> GapsAnswer:
    """Each gap of ``system`` as of ``as_of``; with ``forecast``, what lapses within it; with
    ``horizon_days``, obligations that start to apply within that many days.

    Raises:
        InputError: an unknown framework.
    """
    from controls import gaps as g
    from controls.coverage import compute_coverage

    fws = service.check_frameworks(graph, frameworks)
    view = service.coverage_view(engine, system, graph=graph, policy=policy, as_of=as_of, any_version=False)
    now = compute_coverage(graph, view, policy=policy, frameworks=fws, horizon_days=horizon_days)
    lapsing = g.forecast(graph, view, policy=policy, frameworks=fws, window=forecast, now=now) if forecast else None
    upcoming = [r for f in now.frameworks for r in f.upcoming] if horizon_days is not None else None
    return GapsAnswer(system, g.gaps(now, graph), lapsing, upcoming)


def exceptions(
    engine: Engine, *, policy: ApprovalPolicy, as_of: dt.datetime, system: str | None = None,
    expiring: dt.timedelta | None = None, expired: bool = False,
) -> list[ExceptionStatus]:
    """Exceptions (of one system or all) at ``as_of``: only expired ones with ``expired``, only
    active ones expiring within ``expiring`` with that."""
    items = service.exceptions(engine, as_of=as_of, policy=policy, system=system)
    if expired:
        items = [x for x in items if x.state == "expired"]
    if expiring is not None:
        items = [x for x in items if x.expiring_within(expiring)]
    return items


def systems(engine: Engine, *, policy: ApprovalPolicy, as_of: dt.datetime) -> list[dict[str, Any]]:
    """``assure systems list --json``: every registered system's summary."""
    views = service.all_views(engine, as_of=as_of, policy=policy, plan=service.summary_plan())
    return [service.system_summary(v) for v in views]


def trace(
    engine: Engine, system: str, *, policy: ApprovalPolicy, as_of: dt.datetime, model_version: str | None = None,
) -> dict[str, Any]:
    """``assure trace --json``: model version → evaluations → … → incidents, broken links flagged."""
    from controls.trace import trace as _trace

    return _trace(service.system_view(engine, system, as_of=as_of, policy=policy), policy=policy,
                  model_version=model_version)
