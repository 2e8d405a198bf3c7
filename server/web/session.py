"""Who is looking at a page: the session cookie, CSRF tokens, roles.

The login form takes an API token (``assure tokens create``). The cookie then
holds that token (HttpOnly, SameSite=Strict, Secure behind HTTPS), and every
request checks it against the token store, so a revoked or expired token ends
its sessions at once, in every server process, with no session table.

CSRF: every form carries a token. Signed-in forms carry an HMAC of the session
token (the server can recompute it, a page on another site cannot read it); the
login form, before any session, carries a random value that must match a
cookie of the same value (double submit). This module does not render pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

from ledger.api_tokens import TokenInfo, check_token
from ledger.errors import AssureError
from server.deps import bearer, state

COOKIE = "assure_session"
LOGIN_CSRF_COOKIE = "assure_login_csrf"


class WebAuthError(Exception):
    """Not signed in (401: the login page) or not allowed (403: the refusal page)."""

    def __init__(self, status: int, message: str, user: TokenInfo | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.user = user


def session_token(request: Request) -> str | None:
    """The API token behind this request: the session cookie, else a bearer header."""
    return request.cookies.get(COOKIE) or bearer(request)


def current_user(request: Request, right: str = "read") -> TokenInfo:
    """The signed-in token, if its role grants ``right``.

    Raises:
        WebAuthError: 401 without a valid session, 403 when the role lacks the right.
    """
    token = session_token(request)
    if not token:
        raise WebAuthError(401, "sign in with a token from 'assure tokens create'")
    try:
        info = check_token(state(request).engine, token)
    except AssureError as e:
        raise WebAuthError(401, str(e)) from e
    if not info.may(right):
        what = {"payloads": "record payloads and audit packages", "read": "this page"}.get(right, right)
        raise WebAuthError(403, f"your token ({info.role}) may not see {what}: ask for an auditor token", info)
    return info


def csrf_for(token: str) -> str:
    """The CSRF value of forms in a session of ``token``."""
    return hmac.new(hashlib.sha256(token.encode()).digest(), b"assure-web-csrf", hashlib.sha256).hexdigest()


def check_csrf(request: Request, sent: str | None) -> None:
    """Refuse a signed-in form whose CSRF value is not the session's.

    Raises:
        WebAuthError: 403 naming the missing or wrong CSRF token.
    """
    token = session_token(request)
    if not token or not sent or not hmac.compare_digest(csrf_for(token), sent):
        raise WebAuthError(403, "the form's CSRF token is missing or wrong: reload the page and try again")


def new_login_csrf() -> str:
    """A fresh double-submit value for the login form."""
    return secrets.token_urlsafe(24)


def check_login_csrf(request: Request, sent: str | None) -> None:
    """Refuse a login form whose CSRF value does not match its cookie.

    Raises:
        WebAuthError: 403.
    """
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise WebAuthError(403, "the login form's CSRF token is missing or wrong: reload the page and try again")


def set_cookie(response: Response, request: Request, name: str, value: str, *, path: str = "/") -> None:
    """An HttpOnly, SameSite=Strict cookie (Secure when the request came over HTTPS)."""
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path=path)
