"""Reading a request body within caps: size, JSON nesting depth, number of documents.

Sizes are checked on ``Content-Length`` before reading and again while reading
(a chunked body is cut off one byte past the cap). Depth is counted on the bytes
before any JSON is built, so a ``[[[[…`` bomb costs a scan, not a recursion.
"""

from __future__ import annotations

import re

from fastapi import Request

from ledger.ingest import Document, parse_json_documents
from server.problems import Problem

LABEL = "request"
# A string (possessive, and to the end if unterminated: one pass, no backtracking) or a bracket.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"?|[\[\]{}]', re.DOTALL)


async def read_capped(request: Request, cap: int) -> bytes:
    """The body, refused with 413 if it is larger than ``cap`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise _too_large(cap)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > cap:
            raise _too_large(cap)
    return bytes(data)


def _too_large(cap: int) -> Problem:
    return Problem(413, "Request body too large", f"a request body holds at most {cap:,} bytes; send smaller batches",
                   limit=cap)


def json_depth(raw: bytes) -> int:
    """How deeply ``raw``'s arrays and objects nest (strings skipped)."""
    depth = deepest = 0
    for m in _TOKEN.finditer(raw):
        token = m.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def documents(raw: bytes, *, max_depth: int, max_batch: int) -> list[Document]:
    """The envelopes of a body: one JSON object, a JSON array, or JSON Lines.

    Raises:
        Problem: 400 for a body nested deeper than ``max_depth``, 413 for more
            than ``max_batch`` documents.
        InputError: for malformed JSON (as the CLI words it, naming the line).
    """
    if (depth := json_depth(raw)) > max_depth:
        raise Problem(400, "Bad input", f"{LABEL}: JSON nested {depth} deep; at most {max_depth} levels",
                      source=LABEL, reason="nested too deeply", limit=max_depth)
    docs = parse_json_documents(raw, LABEL)
    if len(docs) > max_batch:
        raise Problem(413, "Batch too large", f"{LABEL}: holds {len(docs):,} envelopes; a request holds at most "
                      f"{max_batch:,}", source=LABEL, limit=max_batch)
    return docs
