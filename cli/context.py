"""The per-invocation context shared by all commands: where the database is."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ledger.read_db import Reader, SqliteFile

DEFAULT_DB_PATH = Path(".assure") / "ledger.db"


@dataclass
class AppContext:
    """Holds the database URL and the engine, built once on first use."""

    db_url: str | None = None
    verbose: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL: --db, else $ASSURE_DB, else SQLite under ./.assure/.

        A value without a scheme (``demo/out/ledger.db``) is a SQLite file's path.
        """
        if self.db_url:
            return self.db_url if "://" in self.db_url else f"sqlite:///{self.db_url}"
        return f"sqlite:///{DEFAULT_DB_PATH}"

    def ledger_engine(self) -> Engine:
        """The engine of an existing, migrated ledger database.

        Raises:
            LedgerStateError: if there is no ledger there or its schema is outdated.
        """
        from ledger.read_db import check_schema
        from ledger.schema_version import stored_revision

        self._require_sqlite_file()
        engine = self.engine()
        current = stored_revision(engine)
        check_schema(current, self.display_url)
        logging.getLogger("assure").info("ledger %s, schema %s", self.display_url, current)
        return engine

    @contextmanager
    def ledger_reader(self) -> Iterator[Reader]:
        """A read transaction on an existing, migrated ledger, for commands that only read.

        A SQLite file is read through ``sqlite3`` (SQLAlchemy is not imported: see
        :mod:`ledger.read_db`); any other database through :meth:`ledger_engine`.

        Raises:
            LedgerStateError: if there is no ledger there or its schema is outdated.
        """
        from ledger import read_db

        path = read_db.sqlite_file(self.url)
        if path is None:
            with read_db.for_engine(self.ledger_engine()) as reader:
                yield reader
            return
        self._require_sqlite_file()
        with read_db.open_sqlite(path) as reader:
            current = read_db.schema_revision(reader)
            read_db.check_schema(current, self.display_url)
            logging.getLogger("assure").info("ledger %s, schema %s", self.display_url, current)
            yield reader

    def ledger_db(self) -> Engine | SqliteFile:
        """An existing, migrated ledger for the library's read-only calls (``controls.service``):
        a SQLite file as a :class:`ledger.read_db.SqliteFile`, read through ``sqlite3``
        without importing SQLAlchemy; any other database as its engine.

        Raises:
            LedgerStateError: if there is no ledger there or its schema is outdated.
        """
        from ledger import read_db

        path = read_db.sqlite_file(self.url)
        if path is None:
            return self.ledger_engine()
        with self.ledger_reader():  # checks the schema
            pass
        return read_db.SqliteFile(path)

    def _require_sqlite_file(self) -> None:
        from ledger.errors import LedgerStateError

        url = self.url
        if url.startswith("sqlite:///") and ":memory:" not in url:
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists():
                raise LedgerStateError(
                    f"no ledger at {path}: run 'assure init --admin-key PEM' (or pass --db URL)"
                )

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        if self.url.startswith("sqlite:"):
            return self.url  # no credentials in a SQLite URL; spares importing SQLAlchemy
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001
            return "the database"

    def engine(self) -> Engine:
        """The SQLAlchemy engine for :attr:`url` (created on first call)."""
        if self._engine is None:
            from ledger.db import make_engine

            if self.url.startswith("sqlite:///") and not self.db_url:
                os.makedirs(DEFAULT_DB_PATH.parent, exist_ok=True)
            self._engine = make_engine(self.url)
        return self._engine


pass_app = click.make_pass_decorator(AppContext)
