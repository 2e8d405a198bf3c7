"""Database engines and transactions for SQLite (embedded) and PostgreSQL.

Appends must be serialised: exactly one transaction at a time reads the head,
inserts entries and moves the head. On SQLite a write transaction starts with
``BEGIN IMMEDIATE`` (a deferred BEGIN that reads and then writes gets
SQLITE_BUSY despite the busy timeout, and ``with_for_update()`` compiles to
nothing on SQLite). On PostgreSQL the head row is locked ``FOR UPDATE`` under
READ COMMITTED (never REPEATABLE READ: the head read after the lock would be
stale). Read-only transactions use a plain deferred BEGIN so they never block
writers.

This module does not know the schema; see ``ledger.models`` and ``migrations/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ledger.errors import InputError

_WRITE = "assure_write"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings the ledger relies on.

    Raises:
        InputError: if the URL is not a usable database URL.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)
            _configure_sqlite(engine)
        else:
            engine = create_engine(
                url, isolation_level="READ COMMITTED", pool_pre_ping=True, **kwargs
            )
    except (ArgumentError, NoSuchModuleError) as e:
        raise InputError(f"not a usable database URL: {e}", source="--db") from e
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so we can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: Engine | Connection) -> bool:
    """True if the engine or connection talks to SQLite."""
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that may append: BEGIN IMMEDIATE on SQLite, READ COMMITTED on PostgreSQL.

    The caller must lock the head row (``SELECT … FOR UPDATE``) first on PostgreSQL;
    ``ledger.store`` does.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction with a consistent snapshot where the backend gives one."""
    with engine.connect() as conn, conn.begin():
        yield conn
