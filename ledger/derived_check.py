"""The derived-table comparison of ``assure verify``, run in its own process alongside the entry pass.

:func:`ledger.reindex.projection_differences` re-reads every entry and payload and
rebuilds every projection row (about 95 µs an entry in Python). It is sequential
(key replay, the Merkle frontier, the scope counts), so it cannot be split like
the signature checks; run after the entries, as it was, it kept one core busy
while the other idled. Here it starts at the same time as the entry pass, in a
forked process with its own connection, and its verdict is collected at the end.

The second connection must read what the verifying transaction reads:

* on PostgreSQL the verifying transaction (REPEATABLE READ) exports its snapshot
  (``pg_export_snapshot``) and the child imports it: the very same rows;
* on SQLite the child's read transaction starts when it opens. Entries are
  append-only, so it reads the same entries plus any appended since; it checks
  the derived rows of what it reads against those entries, the same rule.

Only :func:`ledger.verify.verify_ledger`, which owns its connection, uses this; a
caller's transaction (:func:`ledger.verify.verify_connection`) may hold changes
no other connection sees, so there the comparison runs after the entries, in
the same transaction. Failures are reported exactly as before: an entry's own
failure first, then the first derived difference.
"""

from __future__ import annotations

import multiprocessing
import re
from multiprocessing.connection import Connection as Pipe
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ledger.verified_state import VerifiedState


class DerivedCheck:
    """The comparison running in a child process; :meth:`result` waits for its first difference."""

    def __init__(self, conn: Connection, since: VerifiedState | None) -> None:
        snapshot = None
        if conn.dialect.name == "postgresql":
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            if not re.fullmatch(r"[0-9A-Fa-f-]+", str(snapshot)):  # it is spliced into SET TRANSACTION
                raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
        url = conn.engine.url.render_as_string(hide_password=False)
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_run, args=(url, snapshot, since, send), daemon=True)
        self._process.start()
        send.close()

    def result(self) -> str | None:
        """The first difference between the derived tables and the entries (None: none).

        Raises:
            Exception: whatever stopped the child (a database error), re-raised here.
        """
        try:
            ok, value = self._recv.recv()
        except EOFError:
            raise RuntimeError("the derived-table check ended without an answer") from None
        finally:
            self.stop()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        """End the child (an entry failed: its answer is not needed)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._recv.close()


def start(conn: Connection, since: VerifiedState | None) -> DerivedCheck | None:
    """Start the comparison for the database ``conn`` reads, or None where a second connection
    cannot see the same data (an in-memory SQLite database)."""
    if conn.dialect.name == "sqlite" and (conn.engine.url.database or ":memory:") == ":memory:":
        return None
    return DerivedCheck(conn, since)


def _run(url: str, snapshot: str | None, since: VerifiedState | None, send: Pipe) -> None:
    """In the child: the first difference, sent back as (True, text or None) or (False, error)."""
    answer: tuple[bool, Any]
    try:
        answer = (True, _first_difference(url, snapshot, since))
    except Exception as e:  # noqa: BLE001 - handed to the parent, which raises it
        answer = (False, e)
    try:
        send.send(answer)
    except Exception as e:  # noqa: BLE001 - an error that does not pickle: its text
        send.send((False, RuntimeError(f"derived-table check failed: {e!r}")))
    send.close()


def _first_difference(url: str, snapshot: str | None, since: VerifiedState | None) -> str | None:
    from ledger.db import make_engine
    from ledger.reindex import projection_differences

    engine = make_engine(url, poolclass=_null_pool())
    try:
        with engine.connect() as conn:
            if snapshot is not None:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if snapshot is not None:
                    conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                return next(iter(projection_differences(conn, since=since)), None)
    finally:
        engine.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool
