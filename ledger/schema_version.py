"""Which schema revision a database is at, without loading Alembic.

Every command that opens a ledger checks its schema first; importing Alembic
for that costs more than the query itself, so the revision is read straight from
Alembic's ``alembic_version`` table and compared with :data:`SCHEMA_HEAD`, the
newest migration shipped. A test keeps :data:`SCHEMA_HEAD` equal to Alembic's own
head, so adding a migration without updating it fails the suite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

SCHEMA_HEAD = "0007"
"""The newest revision in migrations/versions (checked against Alembic by tests)."""


def stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None if it was never migrated."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
