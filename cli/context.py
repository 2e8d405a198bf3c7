"""The per-invocation context shared by all commands: where the database is."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_DB_PATH = Path(".assure") / "ledger.db"


@dataclass
class AppContext:
    """Holds the database URL and the engine, built once on first use."""

    db_url: str | None = None
    verbose: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL: --db, else $ASSURE_DB, else SQLite under ./.assure/."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{DEFAULT_DB_PATH}"

    def ledger_engine(self) -> Engine:
        """The engine of an existing, migrated ledger database.

        Raises:
            LedgerStateError: if there is no ledger there or its schema is outdated.
        """
        from ledger.errors import LedgerStateError
        from ledger.schema_version import SCHEMA_HEAD, stored_revision

        url = self.url
        if url.startswith("sqlite:///") and ":memory:" not in url:
            path = Path(url.removeprefix("sqlite:///"))
            if not path.exists():
                raise LedgerStateError(
                    f"no ledger at {path}: run 'assure init --admin-key PEM' (or pass --db URL)"
                )
        engine = self.engine()
        current = stored_revision(engine)
        if current is None:
            raise LedgerStateError(f"no ledger in {self.display_url}: run 'assure init --admin-key PEM'")
        if current != SCHEMA_HEAD:
            raise LedgerStateError(f"the ledger schema is at {current}: run 'assure db upgrade'")
        logging.getLogger("assure").info("ledger %s, schema %s", self.display_url, current)
        return engine

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
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
