"""Request dependencies: the process state and who is asking (bearer tokens and roles)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from ledger.api_tokens import TokenInfo, check_token
from server.problems import Problem
from server.state import State

_NEEDS = {
    "read": "a token of any role",
    "payloads": "an auditor or admin token",
    "append": "a pipeline or admin token",
    "tokens": "an admin token",
}


def state(request: Request) -> State:
    """The process state (set up by :func:`server.app.create_app`)."""
    st: State = request.app.state.assure
    return st


def bearer(request: Request) -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(right: str) -> Callable[[Request], TokenInfo]:
    """A dependency that admits only tokens whose role grants ``right``: 401 without a
    valid token, 403 with one whose role lacks the right."""

    def dependency(request: Request) -> TokenInfo:
        info = check_token(state(request).engine, bearer(request))
        if not info.may(right):
            raise Problem(403, "Forbidden", f"this needs {_NEEDS[right]}; token {info.token_id} is {info.role}")
        return info

    return dependency


def require_tiles(request: Request) -> None:
    """Tiles and checkpoints: open to all with ``--public-tiles``, else any valid token."""
    if not state(request).settings.public_tiles:
        require("read")(request)
