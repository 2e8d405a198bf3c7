"""``assure db upgrade|current``: schema migrations (Alembic)."""

from __future__ import annotations

import click

from cli.context import AppContext, pass_app


@click.group("db")
def db_group() -> None:
    """Database schema: migrate and inspect (Alembic)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_app
def upgrade_cmd(app: AppContext, revision: str) -> None:
    """Create or migrate the schema to REVISION (default: newest)."""
    from ledger import migrate

    migrate.upgrade(app.engine(), revision)
    click.echo(f"database at revision {migrate.current_revision(app.engine())} ({app.url})")


@db_group.command("current")
@pass_app
def current_cmd(app: AppContext) -> None:
    """Print the schema revision of the database and the newest one available."""
    from ledger import migrate

    cur = migrate.current_revision(app.engine())
    head = migrate.head_revision()
    state = "up to date" if cur == head else "needs 'assure db upgrade'"
    click.echo(f"current: {cur or '(empty database)'}\nnewest:  {head}\n{state}")


COMMANDS: list[click.Command] = [db_group]
