"""The per-document checks of a batch that need only bytes, run beside the rest of its append.

Verifying a signature (~57 us in libsodium) costs more than validating the
record it signs, and proving a payload is the canonical form of its record
(validate it, dump it, encode it: ~18 us) needs nothing but the payload. For a
large batch both are handed, a chunk at a time, to a worker process, so they
run on another core while this process parses envelopes, validates records,
judges signers and writes the batch; the write commits only once they all
passed. The worker is a forked process fed through a pipe by a thread that
only sends: a thread doing the checks (or the feeder threads of a process
pool) makes both sides wait for the GIL at every libsodium call, which
measured slower than checking inline. Small batches check inline, where
starting a worker would cost more.

Failures are reported in batch order: :meth:`DeferredChecks.first_failure` is
the earliest failing check, whichever process found it, so the error a user
sees does not depend on timing. Checks are queued in the order the document-
by-document path makes them (a document's canonical form before its signers
are judged, its signatures after), so that order decides between a deferred
check and an error found here.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import NamedTuple, Self

from ledger.errors import InputError
from ledger.keys import verify_signature
from ledger.records import require_canonical_payload

#: Checks per task handed to the worker (amortises the hand-over).
CHUNK = 256
#: Below this many records a batch is checked inline.
PARALLEL_FROM = 2_000


class SignatureCheck(NamedTuple):
    """One signature to verify, and where to point the user if it fails."""

    index: int
    source: str
    field: str
    keyid: str
    public_key: bytes
    message: bytes
    sig: bytes

    def run(self) -> InputError | None:
        """The error this check finds, or None."""
        if verify_signature(self.public_key, self.message, self.sig):
            return None
        return InputError(
            f"signature by key {self.keyid[:16]}… does not verify (payload altered, or signed by a different key)",
            source=self.source,
            field=self.field,
        )


class CanonicalCheck(NamedTuple):
    """A signed payload that must be exactly the canonical form of a valid record."""

    index: int
    source: str
    payload: bytes

    def run(self) -> InputError | None:
        """The error this check finds, or None."""
        try:
            require_canonical_payload(self.payload, source=self.source)
        except InputError as e:
            return e
        return None


Check = SignatureCheck | CanonicalCheck


def _first_failure(checks: Sequence[Check]) -> tuple[int, InputError] | None:
    for i, check in enumerate(checks):
        error = check.run()
        if error is not None:
            return i, error
    return None


def _serve(conn: Connection, parent_end: Connection) -> None:
    """The worker: run each pickled chunk it is sent; answer with the first failure.

    It closes its inherited copy of the parent's end first, so that the parent
    closing its end is seen here as the end of the input.
    """
    parent_end.close()
    # It lives for one batch and makes only short-lived, acyclic objects; the
    # cyclic collector walking the inherited heap made its checks ~1.5x slower.
    gc.disable()
    while True:
        try:
            chunk = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        found = _first_failure(chunk)
        answer = (-1, "", None, None) if found is None else (found[0], found[1].reason, found[1].source, found[1].field)
        try:
            conn.send_bytes(pickle.dumps(answer))
        except OSError:  # the parent stopped listening (it failed or was interrupted)
            return


def _send_all(conn: Connection, outbox: queue.SimpleQueue[bytes | None]) -> None:
    while (data := outbox.get()) is not None:
        try:
            conn.send_bytes(data)
        except OSError:  # the worker is gone; first_failure() will say so
            return


class DeferredChecks:
    """Collects a batch's checks (in batch order); runs them inline or in a worker process.

    Use as a context manager so the worker is always stopped.
    """

    def __init__(self, *, parallel: bool) -> None:
        # Forking is only safe while this process runs a single thread (a lock
        # another thread holds would stay held in the child).
        self._parallel = (
            parallel
            and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1
        )
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pending: list[Check] = []
        self._sent: list[list[Check]] = []
        self._answered = 0
        self._failure: tuple[Check, InputError] | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and self._process is not None:
            self._process.kill()  # an error or interrupt: its answers are not needed, and a send blocked on it ends
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join()
            self._sender = None
        if self._conn is not None:
            self._conn.close()  # the worker sees EOF and exits
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    @property
    def parallel(self) -> bool:
        """True if the checks run in a worker (else inline, when awaited)."""
        return self._parallel

    def add(self, check: Check) -> None:
        """Queue a check; checks must be added in batch order."""
        self._pending.append(check)
        if self._parallel and len(self._pending) >= CHUNK:
            chunk, self._pending = self._pending, []
            self._worker()
            self._outbox.put(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
            self._sent.append(chunk)

    def first_failure(self) -> InputError | None:
        """Wait for every queued check; the error of the earliest that fails, or None."""
        while self._failure is None and self._answered < len(self._sent):
            chunk = self._sent[self._answered]
            try:
                assert self._conn is not None
                bad, reason, source, field = pickle.loads(self._conn.recv_bytes())
                found = (chunk[bad], InputError(reason, source=source, field=field)) if bad >= 0 else None
            except (EOFError, OSError):  # the worker died (killed, out of memory): check here
                hit = _first_failure(chunk)
                found = (chunk[hit[0]], hit[1]) if hit else None
            self._failure = found
            self._answered += 1
        if self._failure is None:
            found = _first_failure(self._pending)
            if found is not None:
                self._failure = self._pending[found[0]], found[1]
        return self._failure[1] if self._failure else None

    def raise_first_failure(self, *, up_to: int | None = None) -> None:
        """Raise the earliest failure (only if it concerns a record at index ``up_to`` or before)."""
        error = self.first_failure()
        if error is not None and self._failure is not None and (up_to is None or self._failure[0].index <= up_to):
            raise error

    def _worker(self) -> Connection:
        if self._conn is None:
            # fork: the worker needs nothing that is not loaded here already, and
            # starts in milliseconds (spawn would import the package again).
            ours, theirs = multiprocessing.Pipe()
            self._process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, ours), daemon=True)
            self._process.start()
            theirs.close()
            self._conn = ours
            # Sending blocks while the worker is busy; a thread that only sends (no
            # Python work between sends) keeps this process validating meanwhile.
            self._sender = threading.Thread(target=_send_all, args=(ours, self._outbox), daemon=True)
            self._sender.start()
        return self._conn
