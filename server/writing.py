"""``POST /v1/entries``: signed envelopes in, receipts out (the rules and words of ``assure append``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from ledger.api_tokens import TokenInfo
from ledger.errors import AssureError
from ledger.submit import APPENDED
from server.body import documents, read_capped
from server.deps import require, state
from server.problems import from_error

router = APIRouter(tags=["writing"])


@router.post(
    "/v1/entries",
    summary="Append signed DSSE envelopes (one JSON object, a JSON array, or JSON Lines), all or nothing",
    responses={200: {"description": "every envelope was in the ledger already: their original receipts"},
               201: {"description": "appended: the receipts (seq, leaf, inclusion proof, tree head)"},
               400: {"description": "bad input (problem+json naming source, field and reason)"},
               401: {"description": "no, unknown, revoked or expired token"},
               403: {"description": "the token's role may not append"},
               409: {"description": "a replay with other signature bytes, or twice in one request"},
               413: {"description": "body or batch too large"}},
)
async def post_entries(request: Request, token: Annotated[TokenInfo, Depends(require("append"))]) -> JSONResponse:
    """Append envelopes as ``assure append`` would: every signature is checked against the
    ledger's key events (the token only lets the request in), and the batch is written
    whole or not at all. An envelope already in the ledger is answered with its original
    receipt and ``status: duplicate``, so retrying a request is safe."""
    st = state(request)
    raw = await read_capped(request, st.settings.max_body_bytes)
    docs = await run_in_threadpool(documents, raw, max_depth=st.settings.max_depth, max_batch=st.settings.max_batch)
    try:
        out: dict[str, Any] = await run_in_threadpool(st.writer.submit, docs)
    except AssureError as e:
        raise from_error(e, sources=[d.source for d in docs]) from e
    appended = sum(e["status"] == APPENDED for e in out["entries"])
    return JSONResponse(out, status_code=201 if appended else 200)
