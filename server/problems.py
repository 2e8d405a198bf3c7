"""RFC 9457 problem details: every error the API answers is ``application/problem+json``.

An :class:`~ledger.errors.InputError` keeps what the CLI would say: ``detail`` is
the CLI's message (``request[2]: field 'observed_at': …``), with ``source``,
``field`` and ``reason`` apart, and ``index`` (the document's place in the
request body) when the error names one.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ledger.api_tokens import TokenError
from ledger.errors import (
    AssureError,
    DuplicateError,
    InputError,
    IntegrityError,
    LedgerStateError,
    NotFoundError,
)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An HTTP error answer (status, title, detail and extension members)."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra

    def response(self) -> JSONResponse:
        """The ``application/problem+json`` response."""
        body = {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail,
                **{k: v for k, v in self.extra.items() if v is not None}}
        headers = {"WWW-Authenticate": 'Bearer realm="assure"'} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_JSON, headers=headers)


def from_error(e: AssureError, *, sources: list[str] | None = None) -> Problem:
    """The problem for a library error; ``sources`` are the request's document labels, to give ``index``."""
    if isinstance(e, TokenError):
        return Problem(401, "Unauthorized", e.reason)
    if isinstance(e, InputError):
        status, title = 400, "Bad input"
        if isinstance(e, NotFoundError):
            status, title = 404, "Not found"
        elif isinstance(e, DuplicateError):
            status, title = 409, "Already in the ledger"
        elif isinstance(e, LedgerStateError):
            status, title = 409, "Ledger state"
        return Problem(status, title, e.diagnostics(), source=e.source, field=e.field, reason=e.reason,
                       index=_index(e.source, sources))
    if isinstance(e, IntegrityError):
        return Problem(500, "Integrity failure", e.diagnostics(), seq=e.seq, reason=e.reason)
    return Problem(500, "Error", e.diagnostics())


def _index(source: str | None, sources: list[str] | None) -> int | None:
    """Which document an error's source names (``request[2] (payload)`` → 2)."""
    if not source or not sources:
        return None
    best = None
    for i, s in enumerate(sources):
        if (source == s or source.startswith(s + " ")) and (best is None or len(s) > len(sources[best])):
            best = i
    return best
