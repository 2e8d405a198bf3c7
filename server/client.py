"""A client for ``POST /v1/entries`` (what ``assure push`` uses): retries, and errors
worded as ``assure append`` words them, naming the local file.

Retrying is safe because the server answers an envelope it holds already with its
original receipt; a connection error or a 5xx answer is retried with exponential
backoff, anything else is final.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

import httpx

from ledger.errors import InputError
from ledger.ingest import Document

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class PushError(InputError):
    """The server refused the batch, or could not be reached (nothing was written by this request)."""


def push(
    url: str, docs: Sequence[Document], *, token: str | None, retries: int = 5, timeout: float = 120.0,
    client: httpx.Client | None = None, backoff: float = 0.5,
) -> dict[str, Any]:
    """Post ``docs`` (envelopes) as one all-or-nothing batch; the receipts, with local sources.

    Raises:
        PushError: the server's refusal, as the CLI words it, naming the local source;
            or the server unreachable after ``retries`` retries.
    """
    body = json.dumps([d.data for d in docs]).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    endpoint = url.rstrip("/") + "/v1/entries"
    own = client or httpx.Client(timeout=timeout)
    try:
        delay = backoff
        for attempt in range(retries + 1):
            try:
                r = own.post(endpoint, content=body, headers=headers)
            except httpx.TransportError as e:
                problem = f"cannot reach {url}: {e.__class__.__name__}: {e}"
            else:
                if r.status_code < 300:
                    return _localise(r.json(), docs)
                if r.status_code not in RETRY_STATUSES:
                    raise _refusal(r, docs)
                problem = _refusal(r, docs).reason
            if attempt < retries:
                log.warning("push: %s; retrying in %.1f s", problem, delay)
                time.sleep(delay + secrets.randbelow(100) / 1000 * delay)
                delay = min(delay * 2, 30.0)
        raise PushError(f"{problem} (after {retries} retries)", source=url)
    finally:
        if client is None:
            own.close()


def _localise(receipt: dict[str, Any], docs: Sequence[Document]) -> dict[str, Any]:
    for e, d in zip(receipt.get("entries", []), docs, strict=False):
        e["source"] = d.source
    return receipt


def _refusal(r: httpx.Response, docs: Sequence[Document]) -> PushError:
    try:
        p = r.json()
    except ValueError:
        p = {}
    if not isinstance(p, dict):
        p = {}
    index, source = p.get("index"), p.get("source")
    if isinstance(index, int) and 0 <= index < len(docs):
        label = f"request[{index}]"
        rest = source[len(label):] if isinstance(source, str) and source.startswith(label) else ""
        source = docs[index].source + rest
    reason = p.get("reason") or p.get("detail") or f"HTTP {r.status_code}"
    if p.get("source") is None and p.get("field") is None and p.get("detail"):
        reason = p["detail"]
    return PushError(f"{reason} (HTTP {r.status_code})" if r.status_code in (401, 403, 413) else reason,
                     source=source if isinstance(source, str) else None, field=p.get("field"))
