"""The schema exists only through Alembic, and the models and migrations agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from ledger import migrate
from ledger.db import make_engine
from ledger.models import metadata
from ledger.schema_version import SCHEMA_HEAD, stored_revision


def test_models_and_migrations_agree(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"models differ from migrations: {diff}"
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_commands_check_the_schema_against_alembics_head(engine, tmp_path) -> None:
    """Commands read the revision without Alembic: the constant they compare with is Alembic's head."""
    assert SCHEMA_HEAD == migrate.head_revision(), "a migration was added: update ledger/schema_version.py"
    assert stored_revision(engine) == migrate.current_revision(engine) == SCHEMA_HEAD
    fresh = make_engine(f"sqlite:///{tmp_path}/empty.db")
    assert stored_revision(fresh) is None
    migrate.upgrade(fresh, "0005")
    assert stored_revision(fresh) == "0005"


def test_downgrade_to_base_and_up_again(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate.upgrade(engine)
    assert "entry" in inspect(engine).get_table_names()
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert "entry" in inspect(engine).get_table_names()
