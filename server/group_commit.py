"""Group commit: concurrent ``POST /v1/entries`` requests share one append transaction.

Appends are serialised (the head is locked), and a transaction costs about as much
for one record as for dozens (the commit, the head, the key registry, the
reference look-ups). So one writer thread per server process takes every request
waiting when it is free and appends them as one batch. Each request stays all or
nothing: if the combined batch is refused, every request is appended on its own,
and each gets its own receipt or its own error, as if it had come alone.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import AssureError
from ledger.ingest import Document
from ledger.store import Ledger
from ledger.submit import submit


@dataclass
class _Job:
    docs: Sequence[Document]
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None
    error: BaseException | None = None


class GroupCommit:
    """The writer of one server process.

    Args:
        led: the ledger.
        max_docs: the most documents one combined batch holds.
    """

    def __init__(self, led: Ledger, *, max_docs: int = 10_000) -> None:
        self._led = led
        self._max = max_docs
        self._queue: list[_Job] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, docs: Sequence[Document]) -> dict[str, Any]:
        """What :func:`ledger.submit.submit` answers for ``docs``, appended with whatever else is waiting.

        Raises:
            AssureError: as :func:`ledger.submit.submit` (nothing of ``docs`` written).
        """
        job = _Job(docs)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="assure-group-commit", daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
            jobs, total = [], 0
            while self._queue and (not jobs or total + len(self._queue[0].docs) <= self._max):
                job = self._queue.pop(0)
                jobs.append(job)
                total += len(job.docs)
            return jobs

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if len(jobs) > 1 and self._together(jobs):
                continue
            for job in jobs:
                self._alone(job)

    def _together(self, jobs: list[_Job]) -> bool:
        """Append every job in one batch; False (nothing written) if the batch is refused."""
        try:
            out = submit(self._led, [d for j in jobs for d in j.docs])
        except AssureError:
            return False
        except BaseException as e:  # noqa: BLE001 (a database error: every waiting request gets it)
            for job in jobs:
                job.error = e
                job.done.set()
            return True
        start = 0
        for job in jobs:
            end = start + len(job.docs)
            job.result = {**out, "entries": out["entries"][start:end]}
            start = end
            job.done.set()
        return True

    def _alone(self, job: _Job) -> None:
        try:
            job.result = submit(self._led, job.docs)
        except BaseException as e:  # noqa: BLE001 (handed to the request's thread)
            job.error = e
        finally:
            job.done.set()
