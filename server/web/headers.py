"""Security headers on every answer: nothing is sniffed, framed or referred elsewhere, and
the web view's pages run only the server's own scripts.

The Content-Security-Policy covers ``/web/`` (Swagger UI at ``/docs`` needs its inline
start-up script): scripts, styles, images and form targets from this server only; style
attributes are allowed for the coverage bars (every value in a page is escaped). Pages
are never framed (the package form cannot be clicked through another site), and no
address, with its as-of date or feed key, is sent to another site as a referrer.
A plain ASGI wrapper (not Starlette's ``BaseHTTPMiddleware``), so appends pay one
header merge, not a task per request.
"""

from __future__ import annotations

from typing import Any

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer")]
_PAGES = [(b"content-security-policy", CSP.encode())]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALWAYS + (_PAGES if scope["path"].startswith("/web/") else [])

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
