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
Parameters too: a datetime is bound on SQLite as the text SQLAlchemy stores (so
``received_at <= :as_of`` compares like with like), and a list or tuple stands for
``IN :name``: for ``sqlite3`` it is expanded into ``(:name_0, :name_1, ...)`` in the SQL
text (an empty one into an empty set of text: do not pass an empty list compared with
a number column); through SQLAlchemy it is an expanding parameter of a statement built
once per SQL text (re-parsing an expanded text on every call cost the web view's
systems page ~20% of its time).

The library's read-only entry points take either a SQLAlchemy engine or a
:class:`SqliteFile` (:func:`transaction`), and their query functions either a
SQLAlchemy connection or a :class:`Reader` (:func:`reader_of`).

This module does not write, migrate or know the tables; see ``ledger.models``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
        database: names the database (its URL), e.g. to key a per-database cache.
        connection: the SQLAlchemy connection the rows come from (None for ``sqlite3``).
        stored_datetime: how a datetime parameter is bound (default: as it is).
    """

    def __init__(self, run: Any, *, database: str = "", connection: Connection | None = None,
                 stored_datetime: Any = None, expand_lists: bool = True) -> None:
        self._run = run
        self.database = database
        self.connection = connection
        self._stored_datetime = stored_datetime
        self._expand_lists = expand_lists

    def rows(
        self, sql: str, params: Mapping[str, Any] | None = None, *, types: Sequence[str | None] = ()
    ) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (``:name`` parameters); column ``i`` converted as ``types[i]`` says."""
        sql, bound = self._bind(sql, params or {})
        rows = self._run(sql, bound)
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

    def _bind(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        bound: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, list | tuple) and value and not self._expand_lists:
                bound[name] = [self._value(v) for v in value]  # an empty one is untyped there: as for sqlite3
            elif isinstance(value, list | tuple):
                names = [f"{name}_{i}" for i in range(len(value))]
                listed = f"({', '.join(':' + n for n in names)})" if names else _EMPTY_SET
                sql = re.sub(rf"(?<![:\w]):{name}(?!\w)", listed, sql)
                bound.update(zip(names, (self._value(v) for v in value), strict=True))
            else:
                bound[name] = self._value(value)
        return sql, bound

    def _value(self, value: Any) -> Any:
        if self._stored_datetime is not None and isinstance(value, dt.datetime):
            return self._stored_datetime(value)
        return value


_EMPTY_SET = "(SELECT NULL WHERE 1 = 0)"


def _sqlite_datetime(value: dt.datetime) -> str:
    """As SQLModel's ``UTCDateTime`` and SQLAlchemy's SQLite ``DateTime`` store an aware datetime."""
    if value.utcoffset() is None:
        raise ValueError("datetime parameters must be timezone-aware")
    v = value.astimezone(dt.UTC)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f".{v.microsecond:06d}")


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
        yield Reader(lambda sql, params: conn.execute(sql, params).fetchall(), database=f"{_SQLITE_PREFIX}{path}",
                     stored_datetime=_sqlite_datetime)
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
    sqlite = conn.dialect.name == "sqlite"  # datetimes compared as the text SQLAlchemy stores there

    def run(sql: str, params: dict[str, Any]) -> Any:
        lists = tuple(sorted(name for name, value in params.items() if isinstance(value, list)))
        return conn.execute(_statement(sql, lists), params).fetchall()

    return Reader(run, database=str(conn.engine.url), connection=conn,
                  stored_datetime=_sqlite_datetime if sqlite else None, expand_lists=False)


@functools.lru_cache(maxsize=256)
def _statement(sql: str, lists: tuple[str, ...]) -> Any:
    """``sql`` as a SQLAlchemy statement whose ``lists`` parameters expand (``IN :name``)."""
    from sqlalchemy import bindparam, text

    return text(sql).bindparams(*(bindparam(name, expanding=True) for name in lists))


def reader_of(source: Reader | Connection) -> Reader:
    """``source`` as a :class:`Reader` (a SQLAlchemy connection is wrapped, in its transaction)."""
    return source if isinstance(source, Reader) else for_connection(source)


@dataclass(frozen=True)
class SqliteFile:
    """A migrated ledger in a SQLite file, read through ``sqlite3``: what the CLI passes the
    library's read-only entry points instead of an engine, so SQLAlchemy is not imported."""

    path: Path

    @property
    def url(self) -> str:
        """Its ``sqlite:///`` URL."""
        return f"{_SQLITE_PREFIX}{self.path}"


@contextmanager
def transaction(db: Engine | SqliteFile) -> Iterator[Reader]:
    """A read transaction on ``db``: ``sqlite3`` for a :class:`SqliteFile`, else the engine."""
    if isinstance(db, SqliteFile):
        with open_sqlite(db.path) as reader:
            yield reader
    else:
        with for_engine(db) as reader:
            yield reader


def engine_of(db: Engine | SqliteFile) -> Engine:
    """A SQLAlchemy engine for ``db`` (for what still reads through SQLAlchemy: authenticated loads)."""
    if not isinstance(db, SqliteFile):
        return db
    from ledger.db import make_engine

    return make_engine(db.url)


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
