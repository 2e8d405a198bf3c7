"""Alembic environment: the only way Assure's schema is made.

The URL comes from a connection passed in by ``assure db upgrade`` / the tests
(``config.attributes["connection"]``), else from ``$ASSURE_DB``, else the default
SQLite file.
"""

import os

from alembic import context
from sqlmodel import SQLModel

import ledger.models  # noqa: F401  (registers tables)
from ledger.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return os.environ.get("ASSURE_DB") or "sqlite:///.assure/ledger.db"


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
