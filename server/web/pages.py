"""The web view's routes: parse the query, check the session, call :mod:`server.web.data`
(the CLI's own library calls), render a template. Every page takes ``as_of``."""

from __future__ import annotations

import datetime as dt
import posixpath
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from ledger.api_tokens import TokenInfo, check_feed_key, check_token, feed_key
from ledger.errors import AssureError
from ledger.timeutil import format_timestamp, parse_as_of, parse_duration
from server.deps import state
from server.problems import Problem, from_error
from server.web import charts, data, ical
from server.web import session as sess

router = APIRouter(prefix="/web", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
# Every value is escaped: the templates are named *.html.j2, which Starlette's default
# (autoescape by extension: .html, .xml) would leave raw, and record text comes from signers.
templates.env.autoescape = True
AsOf = Annotated[str | None, Query()]


def href(path: str, as_of: str | None = None, **params: Any) -> str:
    """A link that keeps the page's as-of date."""
    query = {k: v for k, v in ({"as_of": as_of} | params).items() if v not in (None, "", [])}
    return path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")


templates.env.globals["href"] = href
templates.env.filters["short"] = lambda h, n=12: (h or "")[:n]
templates.env.filters["label"] = lambda s: str(s or "").replace("_", " ")


def _page(request: Request, name: str, as_of: str | None, build: Callable[[TokenInfo, dt.datetime], dict[str, Any]],
          *, right: str = "read", title: str = "") -> Response:
    """Render ``name`` with what ``build(user, as_of)`` returns; errors become pages."""
    try:
        user = sess.current_user(request, right)
        when = parse_as_of(as_of, field="as_of")
        context = build(user, when)
    except sess.WebAuthError as e:
        return _auth_error(request, e)
    except AssureError as e:
        problem = from_error(e)
        return _render(request, "error.html.j2", {"title": problem.title, "message": problem.detail,
                                                  "as_of": as_of}, status=problem.status)
    ctx = {"user": user, "as_of": as_of, "as_of_text": format_timestamp(when), "title": title,
           "csrf": sess.csrf_for(sess.session_token(request) or ""), **context}
    return _render(request, name, ctx)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    context.setdefault("as_of", None)
    context.setdefault("user", None)
    context.setdefault("path", request.url.path)
    context["today_href"] = href(request.url.path, None, **{k: v for k, v in request.query_params.items()
                                                            if k != "as_of"})
    return templates.TemplateResponse(request, name, context, status_code=status,
                                      headers={"Cache-Control": "no-store"})


def _auth_error(request: Request, e: sess.WebAuthError) -> Response:
    if e.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(href("/web/login", None, next=target), status_code=303)
    return _render(request, "error.html.j2", {"title": "Forbidden", "message": e.message, "user": e.user,
                                              "csrf": sess.csrf_for(sess.session_token(request) or "")},
                   status=e.status)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of this view, or the Systems page. Never another site,
    nor a path that leaves /web/ once a browser decodes and resolves it (``..``, backslashes)."""
    if not target or any(ord(ch) < 0x20 for ch in target):
        return "/web/"
    parts = urllib.parse.urlsplit(target)
    path = urllib.parse.unquote(parts.path)
    resolved = posixpath.normpath(path) + ("/" if path.endswith("/") else "")
    if parts.scheme or parts.netloc or "\\" in path or resolved != path or not path.startswith("/web/"):
        return "/web/"
    return target


# ----------------------------------------------------------------------------------- sign in


@router.get("/login")
def login_form(request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The sign-in form (an API token); sets the login CSRF cookie."""
    value = sess.new_login_csrf()
    response = _render(request, "login.html.j2", {"title": "Sign in", "csrf": value, "next": _safe_next(next),
                                                  "error": error}, status=400 if error else 200)
    sess.set_cookie(response, request, sess.LOGIN_CSRF_COOKIE, value, path="/web/login")
    return response


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/web/") -> Response:
    """Check the token and the CSRF value; on success set the session cookie."""
    try:
        sess.check_login_csrf(request, csrf)
    except sess.WebAuthError as e:
        return _render(request, "error.html.j2", {"title": "Forbidden", "message": e.message}, status=403)
    try:
        check_token(state(request).engine, token.strip())
    except AssureError as e:
        return login_form(request, next=next, error=str(e))
    response = RedirectResponse(_safe_next(next), status_code=303)
    sess.set_cookie(response, request, sess.COOKIE, token.strip())
    response.delete_cookie(sess.LOGIN_CSRF_COOKIE, path="/web/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session (the token itself stays valid: revoke it with 'assure tokens revoke')."""
    try:
        sess.check_csrf(request, csrf)
    except sess.WebAuthError as e:
        return _render(request, "error.html.j2", {"title": "Forbidden", "message": e.message}, status=403)
    response = RedirectResponse("/web/login", status_code=303)
    response.delete_cookie(sess.COOKIE, path="/")
    return response


# ----------------------------------------------------------------------------------- pages


@router.get("/")
def systems(request: Request, as_of: AsOf = None) -> Response:
    """Every system: tier, EU class and role, coverage bars, gate, expiring exceptions, open incidents."""
    def build(user: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        rows, fws = data.systems_rows(state(request), when)
        token = sess.session_token(request)
        feed = href("/web/calendar.ics", None, feed=feed_key(token, user.token_id)) if token else None
        return {"rows": rows, "frameworks": fws, "feed": feed}

    return _page(request, "systems.html.j2", as_of, build, title="Systems")


@router.get("/systems/{system}")
def system(request: Request, system: str, as_of: AsOf = None, status: str | None = None,
           horizon: str = "365d", version: str | None = None) -> Response:
    """One system: requirement tables per framework (filter by status), upcoming obligations, model
    versions, and the trace of one of them (``version``, default the current one)."""
    def build(_: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        days = parse_duration(horizon, field="horizon").days
        page = data.system_page(state(request), system, when, days, version or None)
        return page | {"system": system, "status": status or "", "horizon": horizon,
                       "chart": charts.coverage_chart(page["coverage"]["frameworks"]),
                       "statuses": _statuses(page["coverage"])}

    return _page(request, "system.html.j2", as_of, build, title=system)


@router.get("/systems/{system}/requirement")
def requirement(request: Request, system: str, id: str, as_of: AsOf = None) -> Response:
    """A requirement of a system: its status, reason, controls and their evidence."""
    def build(_: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        return data.requirement_page(state(request), system, id, when) | {"system": system}

    return _page(request, "requirement.html.j2", as_of, build, title=id)


@router.get("/systems/{system}/control")
def control(request: Request, system: str, id: str, as_of: AsOf = None) -> Response:
    """A control for a system: status, reason, evidence entries, requirements served."""
    def build(_: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        return data.control_page(state(request), system, id, when) | {"system": system}

    return _page(request, "control.html.j2", as_of, build, title=id)


@router.get("/entries/{ref}")
def entry(request: Request, ref: str, as_of: AsOf = None) -> Response:
    """One entry (by seq or entry hash): signers and roles, inclusion proof; the record for auditors and admins."""
    def build(user: TokenInfo, _: dt.datetime) -> dict[str, Any]:
        payloads = user.may("payloads")
        return data.entry_page(state(request), ref, payloads=payloads) | {"payloads": payloads}

    return _page(request, "entry.html.j2", as_of, build, title=f"Entry {ref}")


@router.get("/exceptions")
def exceptions(request: Request, as_of: AsOf = None) -> Response:
    """Every exception sorted by days left: owner, controls, compensating controls, approvers."""
    from controls import answers

    def build(_: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        st = state(request)
        items = [x.to_json() for x in answers.exceptions(st.engine, policy=st.policy, as_of=when)]
        items.sort(key=lambda x: (x["days_left"] is None, x["days_left"] if x["days_left"] is not None else 0,
                                  x["system"]))
        return {"items": items}

    return _page(request, "exceptions.html.j2", as_of, build, title="Exceptions")


@router.get("/kpis")
def kpis(request: Request, as_of: AsOf = None) -> Response:
    """The governance KPIs now, and their trend over the ledger's history (as-of samples)."""
    def build(_: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        trend = data.kpi_trend(state(request), when)
        return {"kpis": trend[-1]["kpis"], "trends": _trend_charts(trend), "samples": len(trend)}

    return _page(request, "kpis.html.j2", as_of, build, title="KPIs")


@router.get("/ledger")
def ledger(request: Request, as_of: AsOf = None) -> Response:
    """Head, newest checkpoint, the last verification by this server, key registry."""
    return _page(request, "ledger.html.j2", as_of, lambda _u, _w: data.ledger_page(state(request)), title="Ledger")


@router.post("/ledger/verify")
def verify(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Run 'assure verify' (every hash, signature, proof and rule) and record when and what it said."""
    from ledger.verify import verify_ledger

    try:
        sess.current_user(request, "payloads")
        sess.check_csrf(request, csrf)
    except sess.WebAuthError as e:
        return _auth_error(request, e)
    st = state(request)
    if st.verify_lock.acquire(blocking=False):
        try:
            report = verify_ledger(st.engine, workers=1, max_skew=dt.timedelta(seconds=st.settings.max_skew))
            st.last_verify = {"at": format_timestamp(dt.datetime.now(dt.UTC)), "report": report.to_json()}
        finally:
            st.verify_lock.release()
    return RedirectResponse("/web/ledger", status_code=303)


@router.get("/packages")
def packages(request: Request, as_of: AsOf = None) -> Response:
    """The audit-package form (auditor, admin)."""
    from controls import service

    def build(_: TokenInfo, when: dt.datetime) -> dict[str, Any]:
        st = state(request)
        return {"systems": data.registered(st, when),
                "frameworks": service.default_frameworks(st.graph), "can_sign": st.checkpoint_key is not None}

    return _page(request, "packages.html.j2", as_of, build, right="payloads", title="Audit packages")


@router.post("/packages")
def build_package(request: Request, system: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                  as_of: Annotated[str, Form()] = "", framework: Annotated[list[str] | None, Form()] = None
                  ) -> Response:
    """Build the package as ``GET /v1/packages/{system}`` does (the same function) and download it."""
    from server import reading

    try:
        user = sess.current_user(request, "payloads")
        sess.check_csrf(request, csrf)
        return reading.package(request, system, user, framework or [], as_of or None)
    except sess.WebAuthError as e:
        return _auth_error(request, e)
    except (AssureError, Problem) as e:
        problem = e if isinstance(e, Problem) else from_error(e)
        return _render(request, "error.html.j2", {"title": problem.title, "message": problem.detail},
                       status=problem.status)


@router.get("/calendar.ics")
def calendar(request: Request, feed: str | None = None) -> Response:
    """Exception expiries and EU AI Act application dates. A calendar client sends the feed key
    from the Systems page (``?feed=``: it opens this feed only, never the API); a browser may
    use its session, a script its bearer token."""
    st = state(request)
    try:
        if feed is not None:
            check_feed_key(st.engine, feed)
        else:
            check_token(st.engine, sess.session_token(request))
    except AssureError as e:
        return Response(f"{e}\n", status_code=401, media_type="text/plain")
    now = dt.datetime.now(dt.UTC)
    return Response(ical.to_ics(ical.calendar_events(st, now), now=now), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": 'inline; filename="assure.ics"', "Cache-Control": "no-store"})


# ----------------------------------------------------------------------------------- helpers


def _statuses(cov: dict[str, Any]) -> list[str]:
    from controls.coverage import STATUSES

    return [s for s in STATUSES if any(f["counts"].get(s) for f in cov["frameworks"])]


_TRENDS = (
    ("Gate pass rate (%)", lambda k: k["gate_pass_rate"]["value"], 100.0),
    ("Evidence freshness (%)", lambda k: k["evidence_freshness"]["value"], 100.0),
    ("Documentation coverage (%)", lambda k: k["documentation_coverage"]["value"], 100.0),
    ("Control automation (%)", lambda k: k["control_automation_ratio"]["value"], 100.0),
)


def _trend_charts(trend: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [{"title": title, "chart": charts.trend_chart([(p["at"], get(p["kpis"])) for p in trend], top=top)}
           for title, get, top in _TRENDS]
    frameworks = sorted({f for p in trend for s in p["kpis"]["evidence_coverage"].values() for f in s})
    for fw in frameworks:
        def mean(k: dict[str, Any], fw: str = fw) -> float | None:
            vals = [s[fw] for s in k["evidence_coverage"].values() if s.get(fw) is not None]
            return round(sum(vals) / len(vals), 1) if vals else None

        out.append({"title": f"Mean coverage, {fw} (%)",
                    "chart": charts.trend_chart([(p["at"], mean(p["kpis"])) for p in trend])})
    active = [(p["at"], float(p["kpis"]["exceptions"]["active"])) for p in trend]
    out.append({"title": "Active exceptions", "chart": charts.trend_chart(
        active, top=max([v for _, v in active] + [1.0]))})
    return out
