"""Entry points over a database: the calls the CLI (or a pipeline's Python) makes.

Each opens one read transaction, so every answer comes from one snapshot.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine

from controls.approvals import ApprovalPolicy
from controls.coverage import CoverageReport, compute_coverage
from controls.deciding import plan_for
from controls.exceptions import ExceptionStatus, exception_statuses
from controls.graph import ControlGraph
from controls.state import SystemView, load_system, system_ids
from ledger.db import read_transaction
from ledger.errors import InputError


def default_frameworks(graph: ControlGraph) -> list[str]:
    """Frameworks with assessable requirements (guidance-only ones like AI 600-1 are left out)."""
    return [f.id for f in graph.frameworks() if graph.requirements(f.id, assessable_only=True)]


def check_frameworks(graph: ControlGraph, frameworks: list[str] | None) -> list[str]:
    """Validate ``--framework`` values (default: every assessable framework).

    Raises:
        InputError: naming an unknown framework and the known ones.
    """
    known = default_frameworks(graph)
    if not frameworks:
        return known
    for f in frameworks:
        if f not in known:
            raise InputError(f"unknown framework {f!r} (one of: {', '.join(known)})", field="--framework")
    return list(frameworks)


def system_view(engine: Engine, system: str, *, as_of: dt.datetime) -> SystemView:
    """One system's live records as of ``as_of``."""
    with read_transaction(engine) as conn:
        return load_system(conn, system, as_of=as_of)


def coverage(
    engine: Engine, system: str, *, graph: ControlGraph, policy: ApprovalPolicy,
    frameworks: list[str] | None = None, as_of: dt.datetime, at: dt.datetime | None = None,
) -> CoverageReport:
    """Coverage of one system (see :func:`controls.coverage.compute_coverage`)."""
    view = coverage_view(engine, system, graph=graph, as_of=as_of, any_version=False)
    return compute_coverage(graph, view, policy=policy, frameworks=check_frameworks(graph, frameworks), at=at)


def coverage_view(
    engine: Engine, system: str, *, graph: ControlGraph, as_of: dt.datetime, any_version: bool = True
) -> SystemView:
    """A view holding just what coverage needs: bulk kinds reduced to their deciding records.

    Args:
        engine: the ledger database.
        system: the system id.
        graph: frameworks and controls (their rules decide what is loaded).
        as_of: read the ledger as it stood then.
        any_version: enough for coverage at any registered model version (what the
            release gate needs); False: only at the current one, which loads less.
    """
    with read_transaction(engine) as conn:
        return load_system(conn, system, as_of=as_of, plan=plan_for(graph.controls()), any_version=any_version)


def all_views(engine: Engine, *, as_of: dt.datetime, system: str | None = None) -> list[SystemView]:
    """Every registered system's view (or just ``system``'s)."""
    with read_transaction(engine) as conn:
        ids = [system] if system else system_ids(conn, as_of=as_of)
        return [load_system(conn, s, as_of=as_of) for s in ids]


def exceptions(
    engine: Engine, *, as_of: dt.datetime, policy: ApprovalPolicy, system: str | None = None
) -> list[ExceptionStatus]:
    """Exceptions of every system (or one), with their state at ``as_of``."""
    out: list[ExceptionStatus] = []
    for view in all_views(engine, as_of=as_of, system=system):
        out.extend(exception_statuses(view, policy=policy))
    return sorted(out, key=lambda x: (x.expires_at, x.system))


def system_summary(view: SystemView) -> dict[str, Any]:
    """What ``assure systems list|show`` prints for one system."""
    evals = view.of_kind("evaluation")
    latest: dict[str, Any] = {}
    for e in evals:
        if e.system == view.system:
            latest[e.fields.get("suite", "?")] = e
    return {
        "system": view.system,
        "name": view.name,
        "owner": view.owner,
        "purpose": view.record.fields.get("purpose"),
        "risk_tier": view.risk_tier,
        "eu_class": view.eu_class,
        "eu_role": view.eu_role,
        "registered": view.record.ref(),
        "model_versions": [
            {"version": mv.model_version, "seq": mv.seq, "entry_hash": mv.entry_hash,
             "observed_at": mv.ref()["observed_at"]} for mv in view.model_versions
        ],
        "current_model_version": view.current_model_version,
        "latest_evaluations": [
            {"suite": suite, "model_version": e.model_version, "passed": e.passed, **e.ref()}
            for suite, e in sorted(latest.items())
        ],
        "approvals": [
            {**a.ref(), "decision": a.fields.get("decision"), "target": a.target}
            for a in view.of_kind("approval") if a.system == view.system
        ],
    }


def kpis(
    engine: Engine, *, graph: ControlGraph, policy: ApprovalPolicy, frameworks: list[str] | None,
    as_of: dt.datetime, expiring_window: dt.timedelta,
) -> dict[str, Any]:
    """Governance KPIs over every registered system (see :mod:`controls.kpis`)."""
    from collections import Counter

    from sqlalchemy import func, select

    from controls.kpis import EVIDENCE_KINDS, compute_kpis
    from ledger import models as m

    with read_transaction(engine) as conn:
        ids = system_ids(conn, as_of=as_of)
        roles = Counter({
            role: n for role, n in conn.execute(
                select(m.Record.signer_role, func.count())
                .where(m.Record.kind.in_(sorted(EVIDENCE_KINDS)), m.Record.received_at <= as_of)  # type: ignore[attr-defined]
                .group_by(m.Record.signer_role)
            )
        })
    views = [coverage_view(engine, s, graph=graph, as_of=as_of, any_version=False) for s in ids]
    return compute_kpis(graph, views, policy=policy, frameworks=check_frameworks(graph, frameworks),
                        signer_roles=roles, expiring_window=expiring_window)
