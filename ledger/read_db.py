"""A small read-only query layer: the standard ``sqlite3`` module for SQLite files,
SQLAlchemy for everything else.

Commands that only read (``assure log``, ``assure show``) run a handful of
statements. Importing SQLAlchemy costs ~170 ms on our machines, several times a
bare interpreter start and more than the statements themselves, so for a
``sqlite:///FILE`` URL :func:`open_url` talks to the file through ``sqlite3``
and SQLAlchemy is never imported. PostgreSQL (and any other URL) goes through
the usual engine (:func:`for_engine`), with the same SQL text.

Both sides hand back the same Python values as the ORM tables: SQLite keeps
datetimes as the text SQLAlchemy wrote (``2026-11-01 09:00:00.000000``) and
booleans as 0/1, and PostgreSQL gives datetimes in the session's time zone, so
a query names its datetime and boolean columns and :meth:`Reader.rows` converts
them as SQLModel's ``UTCDateTime`` and SQLAlchemy's ``Boolean`` do (aware, UTC).

This module does not write, migrate or know the tables; see ``ledger.models``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ledger.errors import LedgerStateError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

DATETIME, BOOL = "datetime", "bool"
"""Column kinds :meth:`Reader.rows` converts (others pass as the driver gives them)."""

_SQLITE_PREFIX = "sqlite:///"


class Reader:
    """One read transaction (a consistent snapshot) over either driver.

    Args:
        run: executes ``(sql, params)`` and returns the rows as tuples.
    """

    def __init__(self, run: Any) -> None:
        self._run = run

    def rows(
        self, sql: str, params: Mapping[str, Any] | None = None, *, types: Sequence[str | None] = ()
    ) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (``:name`` parameters); column ``i`` converted as ``types[i]`` says."""
        rows = self._run(sql, dict(params or {}))
        if not types:
            return [tuple(r) for r in rows]
        convert = [(i, _CONVERT[t]) for i, t in enumerate(types) if t is not None]
        out = []
        for r in rows:
            values = list(r)
            for i, fn in convert:
                if values[i] is not None:
                    values[i] = fn(values[i])
            out.append(tuple(values))
        return out


def _utc(value: str | dt.datetime) -> dt.datetime:
    """As ``sqlmodel.sql.sqltypes.UTCDateTime`` reads a value (SQLAlchemy 2's SQLite
    ``DateTime`` parses its stored text with ``fromisoformat``)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.utcoffset() is None else value.astimezone(dt.UTC)


_CONVERT = {DATETIME: _utc, BOOL: bool}


def sqlite_file(url: str) -> Path | None:
    """The file a plain ``sqlite:///PATH`` URL names, or None for any other URL
    (in-memory databases, URL options, other drivers: those go through SQLAlchemy)."""
    if not url.startswith(_SQLITE_PREFIX) or "?" in url:
        return None
    path = url.removeprefix(_SQLITE_PREFIX)
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def open_sqlite(path: Path) -> Iterator[Reader]:
    """A read transaction on the SQLite file ``path`` through ``sqlite3`` (never creates it).

    Raises:
        sqlite3.Error: if the file cannot be opened as a database.
    """
    import sqlite3

    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=rw", uri=True, timeout=60,
                           isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("BEGIN")
        yield Reader(lambda sql, params: conn.execute(sql, params).fetchall())
    finally:
        conn.close()  # rolls back the read transaction


@contextmanager
def for_engine(engine: Engine) -> Iterator[Reader]:
    """A read transaction through a SQLAlchemy engine (``ledger.db.read_transaction``)."""
    from ledger.db import read_transaction

    with read_transaction(engine) as conn:
        yield for_connection(conn)


def for_connection(conn: Connection) -> Reader:
    """A :class:`Reader` over an open SQLAlchemy connection (inside the caller's transaction)."""
    from sqlalchemy import text

    return Reader(lambda sql, params: conn.execute(text(sql), params).fetchall())


def schema_revision(reader: Reader) -> str | None:
    """The Alembic revision a SQLite database is at (None if it was never migrated)."""
    if not reader.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"):
        return None
    rows = reader.rows("SELECT version_num FROM alembic_version")
    return rows[0][0] if rows else None


def check_schema(revision: str | None, where: str) -> None:
    """Refuse a database that holds no ledger or an outdated schema.

    Raises:
        LedgerStateError: saying what to run.
    """
    from ledger.schema_version import SCHEMA_HEAD

    if revision is None:
        raise LedgerStateError(f"no ledger in {where}: run 'assure init --admin-key PEM'")
    if revision != SCHEMA_HEAD:
        raise LedgerStateError(f"the ledger schema is at {revision}: run 'assure db upgrade'")
