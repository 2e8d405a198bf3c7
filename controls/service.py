"""Entry points over a database: the calls the CLI (or a pipeline's Python) makes.

Each opens one read transaction, so every answer comes from one snapshot.
Coverage, the gate and the control graph are imported by the calls that use
them: ``assure systems list`` and ``assure exceptions`` need none of them
(networkx and the framework schema alone cost several bare interpreter starts).

``engine`` may also be a :class:`ledger.read_db.SqliteFile` (what the CLI passes for a
SQLite file): the read-only calls then read through ``sqlite3`` and SQLAlchemy is not
imported (see :mod:`ledger.read_db`); authenticated loads and signing still use an engine.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from controls.exceptions import ExceptionStatus, exception_statuses
from controls.state import SystemView, load_system, load_systems, system_ids
from ledger import read_db
from ledger.errors import InputError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy.engine import Connection, Engine

    from controls.approvals import ApprovalPolicy
    from controls.coverage import CoverageReport
    from controls.deciding import Plan
    from controls.gate import GateVerdict
    from controls.graph import ControlGraph
    from controls.view_cache import ViewCache
    from ledger.anchor import Anchor
    from ledger.dsse import Envelope
    from ledger.keys import PrivateKey


def default_frameworks(graph: ControlGraph) -> list[str]:
    """Frameworks with assessable requirements (guidance-only ones like AI 600-1 are left out)."""
    return [f.id for f in graph.frameworks() if f.assessable and graph.requirements(f.id, assessable_only=True)]


def check_frameworks(graph: ControlGraph, frameworks: list[str] | None) -> list[str]:
    """Validate ``--framework`` values (default: every assessable framework).

    Raises:
        InputError: naming an unknown framework and the known ones.
    """
    known = default_frameworks(graph)
    if not frameworks:
        return known
    profiles = {f.id: f for f in graph.frameworks() if not f.assessable}
    for f in frameworks:
        if f in profiles:
            raise InputError(f"{f!r} is a profile of {profiles[f].profile_of or 'another framework'}: guidance, not "
                             f"requirements to assess; assess against {profiles[f].profile_of or 'that framework'} "
                             "and read the profile's actions with 'assure frameworks show'", field="--framework")
        if f not in known:
            raise InputError(f"unknown framework {f!r} (one of: {', '.join(known)})", field="--framework")
    return list(frameworks)


def read_transaction(engine: Engine) -> AbstractContextManager[Connection]:
    """:func:`ledger.db.read_transaction`, importing SQLAlchemy only when called (for :func:`kpis`)."""
    from ledger.db import read_transaction as transaction

    return transaction(engine)


def system_view(engine: Engine, system: str, *, as_of: dt.datetime, policy: ApprovalPolicy) -> SystemView:
    """One system's records as of ``as_of`` (every one, in force or not)."""
    with read_db.transaction(engine) as conn:
        return load_system(conn, system, as_of=as_of, policy=policy)


def summary_view(engine: Engine, system: str, *, as_of: dt.datetime, policy: ApprovalPolicy) -> SystemView:
    """Enough of one system's records for :func:`system_summary`, whatever its number of runs."""
    with read_db.transaction(engine) as conn:
        return load_system(conn, system, as_of=as_of, policy=policy, plan=summary_plan())


def coverage(
    engine: Engine, system: str, *, graph: ControlGraph, policy: ApprovalPolicy,
    frameworks: list[str] | None = None, as_of: dt.datetime, at: dt.datetime | None = None,
    horizon_days: int | None = None,
) -> CoverageReport:
    """Coverage of one system (see :func:`controls.coverage.compute_coverage`)."""
    from controls.coverage import compute_coverage

    view = coverage_view(engine, system, graph=graph, policy=policy, as_of=as_of, any_version=False)
    return compute_coverage(graph, view, policy=policy, frameworks=check_frameworks(graph, frameworks), at=at,
                            horizon_days=horizon_days)


def coverage_view(
    engine: Engine, system: str, *, graph: ControlGraph, policy: ApprovalPolicy, as_of: dt.datetime,
    any_version: bool = True, authenticate: bool = False,
) -> SystemView:
    """A view holding just what coverage needs: bulk kinds reduced to their deciding records.

    Args:
        engine: the ledger database.
        system: the system id.
        graph: frameworks and controls (their rules decide what is loaded).
        as_of: read the ledger as it stood then.
        any_version: enough for coverage at any registered model version (what the
            release gate needs); False: only at the current one, which loads less.
        authenticate: verify every signature read and prove each entry is in a
            tree that extends the newest signed checkpoint (the release gate).
    """
    with read_db.transaction(read_db.engine_of(engine) if authenticate else engine) as conn:
        return load_system(conn, system, as_of=as_of, policy=policy, plan=coverage_plan(graph),
                           any_version=any_version, authenticate=authenticate)


def coverage_plan(graph: ControlGraph) -> Plan:
    """What coverage loads of the bulk kinds (:func:`controls.deciding.plan_for`), once per graph."""
    from controls.deciding import plan_for

    plan = _PLANS.get(graph.content_hash)
    if plan is None:
        plan = _PLANS[graph.content_hash] = plan_for(graph.controls())
    return plan


_PLANS: dict[str, Plan] = {}


def coverage_views(
    engine: Engine, *, graph: ControlGraph, policy: ApprovalPolicy, as_of: dt.datetime, cache: ViewCache | None = None,
) -> list[SystemView]:
    """Every registered system's coverage view (as :func:`coverage_view`, current model version),
    from one snapshot, judged by one replay of the key events; ``cache`` keeps them between
    calls (a server's, see :mod:`controls.view_cache`)."""
    with read_db.transaction(engine) as conn:
        return _views(conn, as_of=as_of, policy=policy, system=None, plan=coverage_plan(graph), cache=cache)


def release_gate(
    engine: Engine, system: str, *, model_version: str, graph: ControlGraph, policy: ApprovalPolicy,
    as_of: dt.datetime,
) -> tuple[GateVerdict, Anchor]:
    """The release gate, decided on authenticated entries only (see :func:`controls.gate.release_gate`).

    Returns:
        The verdict, and the head and checkpoint its entries were proven against.

    Raises:
        IntegrityError: the ledger does not extend its latest signed checkpoint, or
            an entry the verdict reads does not check out (nothing is decided).
    """
    from controls import gate

    view = coverage_view(engine, system, graph=graph, policy=policy, as_of=as_of, authenticate=True)
    assert view.anchor is not None
    return gate.release_gate(graph, view, model_version=model_version, policy=policy), view.anchor


def sign_gate(engine: Engine, verdict: GateVerdict, *, anchor: Anchor, key: PrivateKey) -> Envelope:
    """The verdict as a signed in-toto Statement (see :mod:`controls.gate_statement`).

    Raises:
        InputError: ``key`` is not an active admin or approver key of the ledger.
    """
    from controls.gate_statement import (
        gate_statement,
        require_gate_signer,
        sign_statement,
    )
    from ledger.head import node_reader
    from ledger.merkle import consistency_proof
    from ledger.trusted_keys import load_registry

    with read_transaction(read_db.engine_of(engine)) as conn:
        require_gate_signer(load_registry(conn), key)
        cp = anchor.checkpoint
        proof = consistency_proof(cp.size, anchor.head.size, node_reader(conn)) if cp is not None else []
    return sign_statement(gate_statement(verdict, anchor=anchor, proof=proof), key)


def all_views(
    engine: Engine, *, as_of: dt.datetime, policy: ApprovalPolicy, system: str | None = None,
    plan: Plan | None = None,
) -> list[SystemView]:
    """Every registered system's view (or just ``system``'s); ``plan`` as for :func:`load_system`."""
    with read_db.transaction(engine) as conn:
        return _views(conn, as_of=as_of, policy=policy, system=system, plan=plan)


def _views(
    conn: Connection | read_db.Reader, *, as_of: dt.datetime, policy: ApprovalPolicy, system: str | None, plan: Plan | None,
    cache: ViewCache | None = None,
) -> list[SystemView]:
    def load(ids: list[str]) -> list[SystemView]:
        return _load_views(conn, ids, as_of=as_of, policy=policy, plan=plan)

    if cache is not None and system is None:
        kept = cache.views(read_db.reader_of(conn), as_of=as_of, key=(plan, policy.model_dump_json()), load=load)
        if kept is not None:
            return kept
    return load([system] if system else system_ids(conn, as_of=as_of))


def _load_views(
    conn: Connection | read_db.Reader, ids: list[str], *, as_of: dt.datetime, policy: ApprovalPolicy, plan: Plan | None,
) -> list[SystemView]:
    from ledger.trusted_keys import load_registry

    registry = load_registry(conn)  # once: every view is judged by the same key events
    if plan is not None and plan.kinds and plan.version is None and len(ids) > 1:
        return load_systems(conn, ids, as_of=as_of, policy=policy, plan=plan, registry=registry)
    return [load_system(conn, s, as_of=as_of, policy=policy, plan=plan, registry=registry) for s in ids]


def no_bulk_plan() -> Plan:
    """Load no evaluation or document but those other records name: exceptions, approvals and
    what is in force come out exactly as with a full load (see :func:`controls.state.load_system`).

    Built on call: :mod:`controls.deciding` imports the ORM, which ``assure exceptions`` spares.
    """
    from controls.deciding import BULK_KINDS, Plan

    return Plan(BULK_KINDS, ())


def summary_plan() -> Plan:
    """:func:`no_bulk_plan` and each suite's last evaluation of the system itself: what
    :func:`system_summary` reads comes out exactly as with a full load."""
    from dataclasses import replace

    return replace(no_bulk_plan(), latest=frozenset({"evaluation"}))


def version_view(
    engine: Engine, system: str, *, model_version: str, as_of: dt.datetime, policy: ApprovalPolicy,
) -> SystemView:
    """A view holding every record of the system but the bulk kinds' (evaluations, documents),
    of which only those bound to ``model_version`` (and those other records name): enough for
    that version's trace (:func:`controls.trace.trace` with ``model_version``), whatever the
    number of other versions."""
    from controls.deciding import BULK_KINDS, Plan

    with read_db.transaction(engine) as conn:
        return load_system(conn, system, as_of=as_of, policy=policy, plan=Plan(BULK_KINDS, (), version=model_version))


def exceptions(
    engine: Engine, *, as_of: dt.datetime, policy: ApprovalPolicy, system: str | None = None
) -> list[ExceptionStatus]:
    """Exceptions of every system (or one), with their state at ``as_of``."""
    # Exceptions read no evaluation or document: a full load would read every record.
    return exceptions_of(all_views(engine, as_of=as_of, policy=policy, system=system, plan=no_bulk_plan()),
                         policy=policy)


def exceptions_of(views: list[SystemView], *, policy: ApprovalPolicy) -> list[ExceptionStatus]:
    """The exceptions of these views (any view but a bulk-only one holds them all), soonest expiry first."""
    out = [x for view in views for x in exception_statuses(view, policy=policy)]
    return sorted(out, key=lambda x: (x.expires_at, x.system))


def system_summary(view: SystemView) -> dict[str, Any]:
    """What ``assure systems list|show`` prints for one system (from a full view or a
    :func:`summary_view`)."""
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
        "pending_reclassifications": [r.to_json() for r in view.pending_reclassifications],
        "pending_withdrawals": [c.to_json() for c in view.pending_corrections],
    }


def kpis(
    engine: Engine, *, graph: ControlGraph, policy: ApprovalPolicy, frameworks: list[str] | None,
    as_of: dt.datetime, expiring_window: dt.timedelta, cache: ViewCache | None = None,
) -> dict[str, Any]:
    """Governance KPIs over every registered system (see :mod:`controls.kpis`); ``cache`` as
    for :func:`coverage_views`."""
    from controls.kpis import compute_kpis
    from controls.role_counts import evidence_by_role

    with read_transaction(engine) as conn:
        roles = evidence_by_role(conn, as_of=as_of)
        views = _views(conn, as_of=as_of, policy=policy, system=None, plan=coverage_plan(graph), cache=cache)
    return compute_kpis(graph, views, policy=policy, frameworks=check_frameworks(graph, frameworks),
                        signer_roles=roles, expiring_window=expiring_window, as_of=as_of)
