"""Read endpoints: each answers exactly what the matching ``assure CMD --json`` prints,
from the same library call (``controls.answers``, ``controls.service``, ``ledger.store``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from controls import answers, service
from ledger.api_tokens import TokenInfo
from ledger.store import Ledger
from ledger.timeutil import parse_as_of, parse_duration
from server.deps import require, state
from server.problems import Problem

router = APIRouter(tags=["reading"])
Reader = Annotated[TokenInfo, Depends(require("read"))]
Auditor = Annotated[TokenInfo, Depends(require("payloads"))]
AsOf = Annotated[str | None, Query(description="Answer as the ledger stood then (RFC 3339 or a date; default: now)")]
Frameworks = Annotated[list[str], Query(alias="framework", description="Framework id (repeatable; default: all assessable)")]


class CliJSON(Response):
    """JSON encoded as the CLI's ``--json`` encodes it (``default=str`` for times)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """UTF-8 JSON."""
        return json.dumps(content, indent=2, default=str).encode("utf-8")


def _days(text: str | None, name: str) -> int | None:
    return parse_duration(text, field=name).days if text else None


@router.get("/v1/systems", response_class=CliJSON, summary="Registered systems (assure systems list --json)")
def systems_list(request: Request, _: Reader, as_of: AsOf = None) -> CliJSON:
    """Every registered system: tier, EU class and role in force, current model version."""
    st = state(request)
    return CliJSON(answers.systems(st.engine, policy=st.policy, as_of=parse_as_of(as_of, field="as_of")))


@router.get("/v1/systems/{system}", response_class=CliJSON, summary="One system (assure systems show --json)")
def systems_show(request: Request, system: str, _: Reader, as_of: AsOf = None) -> CliJSON:
    """One system: model versions, latest evaluations per suite, approvals, pending changes."""
    st = state(request)
    view = service.summary_view(st.engine, system, as_of=parse_as_of(as_of, field="as_of"), policy=st.policy)
    return CliJSON(service.system_summary(view))


@router.get("/v1/coverage", response_class=CliJSON, summary="Coverage of a system (assure coverage --json)")
def coverage(request: Request, _: Reader, system: str, framework: Frameworks = [],  # noqa: B006 (FastAPI copies it)
             as_of: AsOf = None, horizon: str | None = None, details: bool = True) -> CliJSON:
    """Per framework: percent covered, counts by status, each requirement with its evidence."""
    st = state(request)
    report = service.coverage(st.engine, system, graph=st.graph, policy=st.policy, frameworks=framework,
                              as_of=parse_as_of(as_of, field="as_of"), horizon_days=_days(horizon, "horizon"))
    return CliJSON(report.to_json(details=details))


@router.get("/v1/gaps", response_class=CliJSON, summary="Gaps of a system (assure gaps --json)")
def gaps(request: Request, _: Reader, system: str, framework: Frameworks = [],  # noqa: B006
         as_of: AsOf = None, forecast: str | None = None, horizon: str | None = None) -> CliJSON:
    """Each missing, stale, failing, partial or needs-review requirement; ``forecast`` adds what
    lapses within the window, ``horizon`` what starts to apply."""
    st = state(request)
    answer = answers.gaps(st.engine, system, graph=st.graph, policy=st.policy, frameworks=framework,
                          as_of=parse_as_of(as_of, field="as_of"),
                          forecast=parse_duration(forecast, field="forecast") if forecast else None,
                          horizon_days=_days(horizon, "horizon"))
    return CliJSON(answer.to_json())


@router.get("/v1/exceptions", response_class=CliJSON, summary="Exceptions (assure exceptions --json)")
def exceptions(request: Request, _: Reader, system: str | None = None, expiring: str | None = None,
               expired: bool = False, as_of: AsOf = None) -> CliJSON:
    """Risk acceptances: owner, controls, compensating controls, remediation, days left."""
    st = state(request)
    items = answers.exceptions(st.engine, policy=st.policy, as_of=parse_as_of(as_of, field="as_of"), system=system,
                               expiring=parse_duration(expiring, field="expiring") if expiring else None,
                               expired=expired)
    return CliJSON([x.to_json() for x in items])


@router.get("/v1/kpis", response_class=CliJSON, summary="Governance KPIs (assure kpis --json)")
def kpis(request: Request, _: Reader, framework: Frameworks = [],  # noqa: B006
         expiring: str = "30d", as_of: AsOf = None) -> CliJSON:
    """Coverage, evaluation and documentation coverage, freshness, automation, exceptions, gate pass rate."""
    st = state(request)
    return CliJSON(service.kpis(st.engine, graph=st.graph, policy=st.policy, frameworks=framework,
                                as_of=parse_as_of(as_of, field="as_of"),
                                expiring_window=parse_duration(expiring, field="expiring"), cache=st.views))


@router.get("/v1/trace", response_class=CliJSON, summary="Traceability of a system (assure trace --json)")
def trace(request: Request, _: Reader, system: str, model_version: str | None = None, as_of: AsOf = None) -> CliJSON:
    """Model version → evaluations → documents → risk assessment → approvals → incidents, exceptions."""
    st = state(request)
    return CliJSON(answers.trace(st.engine, system, policy=st.policy, as_of=parse_as_of(as_of, field="as_of"),
                                 model_version=model_version))


@router.get("/v1/log", response_class=CliJSON, summary="Entries in sequence order (assure log --json)")
def log(request: Request, _: Reader, kind: str | None = None, system: str | None = None,
        limit: Annotated[int | None, Query(ge=1)] = None) -> CliJSON:
    """Each entry's projected metadata (kind, system, times, signer), no payloads."""
    return CliJSON(list(Ledger(state(request).engine).iter_records(kind=kind, system=system, limit=limit)))


@router.get("/v1/entries/{ref}", response_class=CliJSON, summary="One entry with its record (assure show --json)")
def entry(request: Request, ref: str, _: Auditor) -> CliJSON:
    """One entry by seq, entry hash or hash prefix, with its signed record (auditor or admin)."""
    return CliJSON(Ledger(state(request).engine).describe(ref))


@router.get("/v1/verify", response_class=CliJSON, summary="Verify the whole ledger (assure verify --json)")
def verify(request: Request, _: Reader) -> Response:
    """Recompute every hash, the chain, the tree, every signature and rule and every derived table.
    One verification at a time per server process; ``ok`` says whether the ledger is intact."""
    from ledger.verify import verify_ledger

    st = state(request)
    if not st.verify_lock.acquire(blocking=False):
        raise Problem(429, "Busy", "a verification is running on this server; try again when it ends")
    try:
        report = verify_ledger(st.engine, workers=1, max_skew=dt.timedelta(seconds=st.settings.max_skew))
    finally:
        st.verify_lock.release()
    return CliJSON(report.to_json())


@router.get("/v1/packages/{system}", summary="An audit package (zip) for a system (assure package)",
            response_class=Response, responses={200: {"content": {"application/zip": {}}}})
def package(request: Request, system: str, _: Auditor, framework: Frameworks = [],  # noqa: B006
            as_of: AsOf = None) -> Response:
    """audit.pdf, bundle.json and a manifest signed with the server's checkpoint key, in one zip
    (what ``assure package`` writes; check it with ``assure verify-package``)."""
    from reports.package import build_package

    st = state(request)
    if st.checkpoint_key is None:
        raise Problem(409, "No ledger key", "this server signs no packages: start it with --checkpoint-key ADMIN_PEM")
    path = st.settings.policy_path
    result = build_package(st.engine, system, admin_key=st.checkpoint_key, graph=st.graph,
                           policy_path=Path(path) if path else None, frameworks=framework,
                           as_of=parse_as_of(as_of, field="as_of"))
    return Response(result.data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{_safe_name(system)}-package.zip"'})


def _safe_name(system: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in system)[:100] or "system"
