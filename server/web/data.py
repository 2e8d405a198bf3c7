"""What each page shows, from the calls behind the CLI's ``--json`` (``controls.answers``,
``controls.service``, ``ledger.store``, ``ledger.proofs``): no number is computed here
that the CLI computes differently. This module arranges answers for templates; it
renders nothing and checks no roles.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from controls import service
from ledger.errors import NotFoundError
from ledger.store import Ledger
from server.state import State

log = logging.getLogger(__name__)

EXPIRING = dt.timedelta(days=30)
"""The systems page counts exceptions expiring within this window (as 'assure exceptions --expiring 30d')."""


def systems_rows(st: State, as_of: dt.datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per system: who it is (as ``assure systems list``), coverage per framework
    (``assure coverage``), the gate of its current model version (``assure gate``, as
    ``assure kpis`` decides it), exceptions expiring within 30 days and open incidents;
    and the framework ids. One coverage load per system, as coverage and the gate read it."""
    from controls.coverage import compute_coverage, open_incidents
    from controls.exceptions import exception_statuses
    from controls.gate import release_gate
    fws = service.check_frameworks(st.graph, None)
    rows = []
    # A coverage view holds every record but the bulk kinds' non-deciding ones, so its
    # exceptions are exactly what 'assure exceptions' reads.
    for view in service.coverage_views(st.engine, graph=st.graph, policy=st.policy, as_of=as_of,
                                        cache=st.views):
        report = compute_coverage(st.graph, view, policy=st.policy, frameworks=fws)
        mv = view.current_model_version
        verdict = release_gate(st.graph, view, model_version=mv, policy=st.policy, report=report) if mv else None
        summary = service.system_summary(view)  # its evaluation lists are partial here: only its identity is shown
        rows.append({
            **{k: summary[k] for k in _IDENTITY},
            "coverage": {f["framework"]: f for f in report.to_json(details=False)["frameworks"]},
            "gate": None if verdict is None else ("pass" if verdict.passed else "fail"),
            "gate_reasons": verdict.reasons if verdict else [],
            "expiring": sum(x.expiring_within(EXPIRING) for x in exception_statuses(view, policy=st.policy)),
            "open_incidents": len(open_incidents(view, ["low", "medium", "high", "critical"])),
        })
    return rows, fws


def registered(st: State, as_of: dt.datetime) -> list[str]:
    """The ids of the systems registered by ``as_of`` (those 'assure systems list' lists)."""
    from controls.state import system_ids
    from ledger.db import read_transaction

    with read_transaction(st.engine) as conn:
        return system_ids(conn, as_of=as_of)


_IDENTITY = ("system", "name", "owner", "risk_tier", "eu_class", "eu_role", "current_model_version")


def coverage_json(st: State, system: str, as_of: dt.datetime, *, horizon_days: int | None = None,
                  frameworks: list[str] | None = None) -> dict[str, Any]:
    """``assure coverage --system SYSTEM --json`` (with ``--horizon``)."""
    report = service.coverage(st.engine, system, graph=st.graph, policy=st.policy, frameworks=frameworks,
                              as_of=as_of, horizon_days=horizon_days)
    return report.to_json(details=True)


def system_page(st: State, system: str, as_of: dt.datetime, horizon_days: int,
                version: str | None = None) -> dict[str, Any]:
    """Summary, coverage with the upcoming obligations (``assure coverage --horizon``), every model
    version with its release approval, and the trace of one version (``assure trace
    --model-version``; default the current one). A version's trace reads only its own
    evaluations and documents, so the page costs the same after a thousand versions.

    Raises:
        NotFoundError: ``version`` is not registered for the system.
    """
    from controls.coverage import compute_coverage
    from controls.trace import trace

    view = service.coverage_view(st.engine, system, graph=st.graph, policy=st.policy, as_of=as_of, any_version=False)
    cov = compute_coverage(st.graph, view, policy=st.policy, frameworks=service.check_frameworks(st.graph, None),
                           horizon_days=horizon_days).to_json(details=True)  # as service.coverage
    upcoming = [r | {"framework": f["framework"]} for f in cov["frameworks"] for r in f["requirements"]
                if r["status"] == "upcoming" and r.get("applies_from")]
    version = version or view.current_model_version
    traced = view if version is None else service.version_view(st.engine, system, model_version=version,
                                                                as_of=as_of, policy=st.policy)
    versions = [{**mv.ref(), "version": mv.model_version, "release": view.decide(mv, policy=st.policy).status}
                for mv in reversed(view.model_versions)]
    return {"summary": service.system_summary(view),  # only its identity and pending changes are shown
            "coverage": cov, "upcoming": sorted(upcoming, key=lambda r: (r["applies_from"], r["requirement"])),
            "versions": versions, "version": version,
            "trace": trace(traced, policy=st.policy, model_version=version)}


def requirement_page(st: State, system: str, requirement: str, as_of: dt.datetime) -> dict[str, Any]:
    """One requirement of a system's coverage, with its controls and their evidence.

    Raises:
        NotFoundError: the system's frameworks hold no such requirement.
    """
    cov = coverage_json(st, system, as_of)
    for f in cov["frameworks"]:
        for r in f["requirements"]:
            if r["requirement"] == requirement:
                controls = {c["control"]: c for c in cov["controls"]}
                return {"coverage": cov, "framework": f, "requirement": r,
                        "controls": [controls.get(c["control"], c) for c in r["controls"]]}
    raise NotFoundError(f"no requirement {requirement!r} in the coverage of {system}")


def control_page(st: State, system: str, control: str, as_of: dt.datetime) -> dict[str, Any]:
    """One control's status for a system, its evidence and the requirements it serves.

    Raises:
        NotFoundError: the system's coverage has no such control.
    """
    cov = coverage_json(st, system, as_of)
    found = [c for c in cov["controls"] if c["control"] == control]
    if not found:
        raise NotFoundError(f"no control {control!r} in the coverage of {system}")
    serves = [r | {"framework": f["framework"]} for f in cov["frameworks"] for r in f["requirements"]
              if any(c["control"] == control for c in r["controls"])]
    return {"coverage": cov, "control": found[0], "serves": serves}


def entry_page(st: State, ref: str, *, payloads: bool) -> dict[str, Any]:
    """One entry: hashes, signers with their roles, an inclusion proof and whether it
    verifies; the record itself only with ``payloads`` (auditor, admin).

    Raises:
        NotFoundError: no such entry.
    """
    from ledger.checkpoints import latest_checkpoint
    from ledger.merkle import leaf_hash, verify_inclusion
    from ledger.proofs import prove_inclusion

    led = Ledger(st.engine)
    described = led.describe(int(ref) if ref.isdigit() else ref)
    seq = described["seq"]
    entry = led.get(seq)
    registry = led.registry()
    signers = []
    for s in described["signatures"]:
        key = registry.get(s["keyid"])
        signers.append({"keyid": s["keyid"], "owner": key.owner if key else "unknown key",
                        "role": key.role if key else "-", "status": key.status() if key else "not trusted"})
    note = latest_checkpoint(st.engine)
    cp_size = _note_size(note)
    proof = prove_inclusion(st.engine, seq, size=cp_size if cp_size > seq else None)
    try:
        verify_inclusion(leaf_hash(proof.leaf), proof.index, proof.tree_size, proof.proof, proof.root)
        verifies = True
    except Exception:  # noqa: BLE001 (any failure means: does not verify)
        verifies = False
    return {"entry": described | {"record": described["record"] if payloads else None}, "kind": entry.parsed_leaf.kind,
            "signers": signers, "proof": proof.to_json(), "verifies": verifies,
            "against_checkpoint": proof.checkpoint is not None}


def ledger_page(st: State) -> dict[str, Any]:
    """Head, newest checkpoint note, key registry (as 'assure keys list --json')."""
    from ledger.checkpoints import latest_checkpoint
    from ledger.timeutil import format_timestamp

    led = Ledger(st.engine)
    head = led.head()
    keys = [{"key_id": k.key_id, "role": k.role, "owner": k.owner, "status": k.status(),
             "trusted_seq": k.trusted_seq, "trusted_at": format_timestamp(k.trusted_at),
             "valid_until": format_timestamp(k.valid_until) if k.valid_until else None,
             "revoked_seq": k.revoked_seq, "revoke_reason": k.revoke_reason,
             "systems": list(k.systems) if k.systems is not None else None} for k in led.registry()]
    return {"head": {"origin": head.origin, "size": head.size, "root": head.root.hex(),
                     "last_hash": head.last_hash.hex()},
            "checkpoint": latest_checkpoint(st.engine), "keys": keys, "last_verify": st.last_verify}


TREND_POINTS = 6
"""The KPI page's samples: five earlier times and the page's own."""


def kpi_trend(st: State, as_of: dt.datetime, points: int = TREND_POINTS) -> list[dict[str, Any]]:
    """``assure kpis --json --as-of T`` at up to ``points`` times ending at ``as_of``: the
    ledger's history read as it stood then (:func:`past_kpis`), then ``as_of`` itself."""
    current = service.kpis(st.engine, graph=st.graph, policy=st.policy, frameworks=None, as_of=as_of,
                           expiring_window=EXPIRING, cache=st.views)
    return [*past_kpis(st, as_of, points - 1), {"at": as_of, "kpis": current}]


def past_kpis(st: State, as_of: dt.datetime, points: int) -> list[dict[str, Any]]:
    """The KPIs at up to ``points`` times before ``as_of``, on a grid (whole minutes, hours,
    days, weeks, months or years, the finest that spans the history), so they repeat from
    one request to the next and their answers are kept: an answer as of a past time never
    changes (entries appended later are received later)."""
    from ledger.timeutil import parse_timestamp

    first = parse_timestamp(Ledger(st.engine).get(0).parsed_leaf.received_at)
    out = []
    for t in [t for t in _grid(first, as_of, points) if first <= t < as_of]:
        key = (st.settings.db_url, st.settings.frameworks_dir, t)
        kpis = _KPI_CACHE.get(key)
        if kpis is None:
            kpis = service.kpis(st.engine, graph=st.graph, policy=st.policy, frameworks=None, as_of=t,
                                expiring_window=EXPIRING)
            if t < dt.datetime.now(dt.UTC):
                _remember(key, kpis)
        out.append({"at": t, "kpis": kpis})
    return out


def warm_trend(st: State) -> None:
    """Compute the KPI page's past samples ahead of its first request (run in the background
    after start-up: at 1,000,000 entries they take seconds, and are kept like any sample).
    A failure is logged, never raised: the page computes what is missing when asked."""
    try:
        past_kpis(st, dt.datetime.now(dt.UTC), TREND_POINTS - 1)
    except Exception as e:  # noqa: BLE001 (a background warm-up must not print a traceback or stop the server)
        log.warning("KPI samples not computed ahead: %s", e)


_STEPS = [dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=7),
          dt.timedelta(days=30), dt.timedelta(days=91), dt.timedelta(days=365)]
_EPOCH = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)  # a Monday: weeks start on Mondays
_KPI_CACHE: dict[tuple[str, str, dt.datetime], dict[str, Any]] = {}
_CACHE_SIZE = 512


def _grid(first: dt.datetime, as_of: dt.datetime, n: int) -> list[dt.datetime]:
    """``n`` grid times up to ``as_of``, on the finest step whose ``n`` steps span back to ``first``."""
    if n < 1:
        return []
    step = next((s for s in _STEPS if s * n >= as_of - first), _STEPS[-1])
    top = _EPOCH + step * ((as_of - _EPOCH) // step)
    return [top - step * i for i in reversed(range(n))]


def _remember(key: tuple[str, str, dt.datetime], kpis: dict[str, Any]) -> None:
    if len(_KPI_CACHE) >= _CACHE_SIZE:
        _KPI_CACHE.pop(next(iter(_KPI_CACHE), None), None)
    _KPI_CACHE[key] = kpis


def _note_size(note: str | None) -> int:
    lines = (note or "").split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else -1
