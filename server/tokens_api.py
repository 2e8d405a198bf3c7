"""Token management over HTTP (admin tokens only): create, list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse

from ledger.api_tokens import TokenInfo, create_token, list_tokens, revoke_token
from ledger.timeutil import parse_duration
from server.deps import require, state

router = APIRouter(tags=["tokens"])
Admin = Annotated[TokenInfo, Depends(require("tokens"))]


class NewToken(BaseModel):
    """A token to make."""

    model_config = ConfigDict(extra="forbid")
    role: str
    name: str
    expires: str | None = None


@router.post("/v1/tokens", status_code=201, summary="Make a token (shown once)")
def create(request: Request, body: NewToken, _: Admin) -> JSONResponse:
    """The token is in the answer only: the server keeps its SHA-256."""
    life = parse_duration(body.expires, field="expires") if body.expires else None
    token, info = create_token(state(request).engine, role=body.role, name=body.name, expires_in=life)
    return JSONResponse({"token": token, **info.to_json()}, status_code=201)


@router.get("/v1/tokens", summary="Every token (never the secrets)")
def listing(request: Request, _: Admin) -> list[dict[str, Any]]:
    """Id, name, role, created, expires, revoked, state."""
    return [t.to_json() for t in list_tokens(state(request).engine)]


@router.delete("/v1/tokens/{token_id}", summary="Revoke a token")
def revoke(request: Request, token_id: str, _: Admin) -> dict[str, Any]:
    """Revoked from now on; it stays listed."""
    return revoke_token(state(request).engine, token_id).to_json()
