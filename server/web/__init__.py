"""The web view: server-rendered pages over the same library calls as the CLI's ``--json``
(see docs/web.md). :func:`install` adds its routes, its static files and a Swagger UI
served from this server (no CDN) to the API application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, RedirectResponse

STATIC = Path(__file__).with_name("static")


def swagger_dir() -> Path:
    """Swagger UI's files, from the ``swagger-ui-py`` package (installed with Assure)."""
    import swagger_ui

    return Path(swagger_ui.__file__).with_name("static")


def install(app: FastAPI) -> None:
    """Mount the web view at ``/web/`` (``/`` redirects there) and Swagger UI at ``/docs``."""
    from server.web.headers import SecurityHeaders
    from server.web.pages import router

    app.add_middleware(SecurityHeaders)
    app.include_router(router)
    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")
    app.mount("/docs/static", StaticFiles(directory=swagger_dir()), name="swagger-static")

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)

    @app.get("/docs", include_in_schema=False)
    def _docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/docs/static/favicon-32x32.png")
