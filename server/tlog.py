"""Proofs and the log as C2SP tlog-tiles: ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]``,
``/tile/entries/<N>[.p/<W>]``, and RFC 9162 proofs on demand under ``/v1/proof``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ledger.api_tokens import TokenInfo
from ledger.proofs import prove_consistency, prove_inclusion
from ledger.tiles import parse_tile_path, read_tile
from server.deps import require, require_tiles, state
from server.problems import Problem
from server.reading import CliJSON

router = APIRouter()
Reader = Annotated[TokenInfo, Depends(require("read"))]
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_MUTABLE = {"Cache-Control": "no-cache, max-age=0"}


@router.get("/v1/proof/inclusion", response_class=CliJSON, tags=["proofs"],
            summary="Inclusion proof of an entry (assure proof inclusion --json)")
def inclusion(request: Request, _: Reader, seq: Annotated[int, Query(ge=0)],
              size: Annotated[int | None, Query(ge=0)] = None) -> CliJSON:
    """Entry ``seq`` in the tree of ``size`` entries (default: the whole ledger), verified before it is sent."""
    return CliJSON(prove_inclusion(state(request).engine, seq, size=size).to_json())


@router.get("/v1/proof/consistency", response_class=CliJSON, tags=["proofs"],
            summary="Consistency proof between two tree sizes (assure proof consistency --json)")
def consistency(request: Request, _: Reader, from_: Annotated[int, Query(alias="from", ge=0)],
                to: Annotated[int | None, Query(ge=0)] = None) -> CliJSON:
    """The tree of ``to`` entries (default: the whole ledger) extends the tree of ``from`` entries."""
    return CliJSON(prove_consistency(state(request).engine, from_, new=to).to_json())


async def _checkpoint(request: Request) -> Response:
    note = await run_in_threadpool(state(request).fresh_checkpoint)
    if note is None:
        raise Problem(404, "No checkpoint", "no checkpoint has been signed yet: run 'assure checkpoint --key ADMIN_PEM' "
                      "or start the server with --checkpoint-key")
    return Response(note, media_type="text/plain; charset=utf-8", headers=_MUTABLE)


@router.get("/checkpoint", dependencies=[Depends(require_tiles)], tags=["tlog-tiles"],
            summary="The latest signed checkpoint (C2SP tlog-checkpoint)", response_class=Response)
async def checkpoint(request: Request) -> Response:
    """The newest signed tree head, as a C2SP signed note."""
    return await _checkpoint(request)


@router.get("/v1/checkpoint", tags=["proofs"], summary="The latest signed checkpoint", response_class=Response)
async def checkpoint_v1(request: Request, _: Reader) -> Response:
    """The newest signed tree head, as a C2SP signed note (needs a token; see also /checkpoint)."""
    return await _checkpoint(request)


@router.get("/tile/{level}/{rest:path}", dependencies=[Depends(require_tiles)], tags=["tlog-tiles"],
            summary="A Merkle tree tile or an entry bundle (C2SP tlog-tiles)", response_class=Response)
def tile(request: Request, level: str, rest: str) -> Response:
    """``tile/<L>/<N>[.p/<W>]``: 32-byte hashes; ``tile/entries/<N>[.p/<W>]``: the entries' leaves,
    each prefixed by its length (big-endian uint16)."""
    data = read_tile(state(request).engine, parse_tile_path(level, rest))
    return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)
