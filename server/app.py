"""The FastAPI application: routers, and the one boundary that turns errors into problems.

Every library error becomes an RFC 9457 ``application/problem+json`` answer
(:mod:`server.problems`); so do FastAPI's own (a bad query parameter is a 400
naming it). An unexpected error is logged and answered with a bare 500: no
traceback reaches a client. OpenAPI is at ``/openapi.json``, its pages at ``/docs``; the web view at ``/web/``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from ledger.errors import AssureError
from server import reading, tlog, tokens_api, web, writing
from server.problems import Problem, from_error
from server.settings import Settings
from server.state import State

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The application for ``settings`` (one per server process).

    Raises:
        LedgerStateError: the database holds no ledger, or an outdated schema.
    """
    st = State(settings)
    st.check_schema()
    app = FastAPI(title="Assure", version="1", summary="Evidence ledger for AI governance: append signed records, "
                  "read coverage and proofs, fetch the log as C2SP tlog-tiles.",
                  docs_url=None, redoc_url=None, lifespan=_warm)
    app.state.assure = st
    for r in (writing.router, reading.router, tlog.router, tokens_api.router):
        app.include_router(r)
    web.install(app)  # the web view at /web/, and /docs served locally

    @app.exception_handler(Problem)
    async def _problem(_: Request, e: Problem) -> JSONResponse:
        return e.response()

    @app.exception_handler(AssureError)
    async def _assure(_: Request, e: AssureError) -> JSONResponse:
        return from_error(e).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("query", "path", "body")]
        where = ".".join(loc) or "request"
        return Problem(400, "Bad input", f"field '{where}': {first.get('msg', 'invalid')}", field=where,
                       reason=first.get("msg")).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return Problem(e.status_code, _TITLES.get(e.status_code, "Error"), str(e.detail)).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        db = sys.modules.get("sqlalchemy.exc")
        if db is not None and isinstance(e, db.SQLAlchemyError):
            log.error("database error on %s: %s", request.url.path, e)
            return Problem(503, "Database unavailable", "the ledger database did not answer; try again").response()
        log.exception("unexpected error on %s", request.url.path)
        return Problem(500, "Internal error", "the server failed; nothing was written").response()

    return app


@asynccontextmanager
async def _warm(app: FastAPI) -> AsyncIterator[None]:
    """Before serving: load the graph, the policy and the views, and spare the collector from walking
    the graph (:meth:`State.warm`); then, in the background, the KPI page's past samples."""
    import threading

    from server.web.data import warm_trend

    app.state.assure.warm()
    threading.Thread(target=warm_trend, args=(app.state.assure,), name="assure-warm-kpis", daemon=True).start()
    yield


_TITLES = {404: "Not found", 405: "Method not allowed"}


def app_from_env() -> FastAPI:
    """The application of a worker process started by ``assure serve`` (settings in the environment)."""
    return create_app(Settings.from_env())
