"""Ed25519 checks of a batch, run beside the rest of its preparation.

Checking a signature (~57 us in libsodium) costs more than validating the
record it signs, and the two are independent. For a large batch the checks are
handed, a chunk at a time, to a worker process, so they run on another core
while this process validates the records and writes the batch. The worker is a
forked process fed through a pipe, with no helper threads here: a thread (for
the checks, or the feeder threads of a process pool) makes the two sides wait
for the GIL at every libsodium call, which measured slower than checking inline.
Small batches check inline, where starting a worker would cost more.

Failures are reported in batch order: :meth:`SignatureBatch.first_failure`
names the earliest bad signature, whichever process found it, so the error a
user sees does not depend on timing.
"""

from __future__ import annotations

import multiprocessing
import os
import struct
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import NamedTuple, Self

from ledger.keys import verify_signature

#: Checks per task handed to the worker (amortises the hand-over).
CHUNK = 256
#: Below this many signatures a batch is checked inline.
PARALLEL_FROM = 2_000


class SignatureCheck(NamedTuple):
    """One signature to check, and where to point the user if it fails."""

    source: str
    field: str
    keyid: str
    public_key: bytes
    message: bytes
    sig: bytes


def _first_bad(items: Sequence[tuple[bytes, bytes, bytes]]) -> int:
    """Index of the first (public key, message, signature) that does not verify, or -1."""
    for i, (pub, message, sig) in enumerate(items):
        if not verify_signature(pub, message, sig):
            return i
    return -1


_ITEM = struct.Struct(">32s64sI")  # public key, signature, message length; the message follows


def _pack(checks: Sequence[SignatureCheck]) -> bytes:
    parts = []
    for c in checks:
        if len(c.public_key) != 32 or len(c.sig) != 64:  # malformed: verify_signature says no
            parts.append(_ITEM.pack(bytes(32), bytes(64), 0))
        else:
            parts.append(_ITEM.pack(c.public_key, c.sig, len(c.message)))
            parts.append(c.message)
    return b"".join(parts)


def _unpack(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        pub, sig, n = _ITEM.unpack_from(data, pos)
        pos += _ITEM.size
        out.append((pub, data[pos : pos + n], sig))
        pos += n
    return out


def _serve(conn: Connection, parent_end: Connection) -> None:
    """The worker: check each packed chunk it is sent; answer the first bad index (or -1).

    It closes its inherited copy of the parent's end first, so that the parent
    closing its end is seen here as the end of the input.
    """
    parent_end.close()
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(struct.pack(">i", _first_bad(_unpack(data))))


class SignatureBatch:
    """Collects a batch's checks; verifies them inline or in a worker process.

    Use as a context manager so the worker is always stopped.
    """

    def __init__(self, *, parallel: bool) -> None:
        self._parallel = parallel and (os.cpu_count() or 1) > 1 and "fork" in multiprocessing.get_all_start_methods()
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pending: list[SignatureCheck] = []
        self._sent: list[list[SignatureCheck]] = []
        self._answered = 0
        self._failure: SignatureCheck | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()  # the worker sees EOF and exits
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def add(self, check: SignatureCheck) -> None:
        """Queue a check (in batch order)."""
        self._pending.append(check)
        if self._parallel and len(self._pending) >= CHUNK:
            chunk, self._pending = self._pending, []
            self._worker().send_bytes(_pack(chunk))
            self._sent.append(chunk)

    def first_failure(self) -> SignatureCheck | None:
        """Wait for every queued check; the earliest that fails, or None."""
        while self._failure is None and self._answered < len(self._sent):
            assert self._conn is not None
            (bad,) = struct.unpack(">i", self._conn.recv_bytes())
            if bad >= 0:
                self._failure = self._sent[self._answered][bad]
            self._answered += 1
        if self._failure is not None:
            return self._failure
        bad = _first_bad([(c.public_key, c.message, c.sig) for c in self._pending])
        return self._pending[bad] if bad >= 0 else None

    def _worker(self) -> Connection:
        if self._conn is None:
            # fork: the worker needs nothing but libsodium, already loaded here, and
            # starts in milliseconds (spawn would import the package again).
            ours, theirs = multiprocessing.Pipe()
            self._process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, ours), daemon=True)
            self._process.start()
            theirs.close()
            self._conn = ours
        return self._conn
