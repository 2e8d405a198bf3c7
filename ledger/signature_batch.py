"""Ed25519 checks of a batch, run beside the rest of its preparation.

Checking a signature is libsodium work that runs without the GIL, while
validating the next record is Python work that holds it. For a large batch the
checks are handed, a chunk at a time, to a thread so both proceed at once on two
cores of the one process. Small batches check inline.

Failures are reported in batch order: :meth:`SignatureBatch.first_failure`
names the earliest bad signature, whichever thread found it, so the error a
user sees does not depend on timing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import NamedTuple

from ledger.keys import verify_signature

#: Checks per task handed to the thread (amortises the hand-over).
CHUNK = 256
#: Below this many signatures a batch is checked inline.
THREADED_FROM = 2 * CHUNK


class SignatureCheck(NamedTuple):
    """One signature to check, and where to point the user if it fails."""

    source: str
    field: str
    keyid: str
    public_key: bytes
    message: bytes
    sig: bytes


def _first_bad(checks: Sequence[SignatureCheck]) -> SignatureCheck | None:
    for c in checks:
        if not verify_signature(c.public_key, c.message, c.sig):
            return c
    return None


class SignatureBatch:
    """Collects a batch's checks; verifies them inline or on a thread."""

    def __init__(self, *, threaded: bool) -> None:
        self._pool = _pool() if threaded else None
        self._pending: list[SignatureCheck] = []
        self._started: list[Future[SignatureCheck | None]] = []

    def add(self, check: SignatureCheck) -> None:
        """Queue a check (in batch order)."""
        self._pending.append(check)
        if self._pool is not None and len(self._pending) >= CHUNK:
            self._started.append(self._pool.submit(_first_bad, self._pending))
            self._pending = []

    def first_failure(self) -> SignatureCheck | None:
        """Wait for every queued check; the earliest that fails, or None."""
        for future in self._started:
            bad = future.result()
            if bad is not None:
                return bad
        return _first_bad(self._pending)


_POOL: Executor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> Executor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            workers = max(1, (os.cpu_count() or 1) - 1)
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assure-verify")
        return _POOL
