"""Root ``assure`` command group and the single error boundary.

Every library error derives from :class:`ledger.errors.AssureError` and carries
its exit code; :class:`AssureGroup` turns it into ``Error: <message>`` on stderr
and that exit code, with no traceback (``--verbose`` shows one).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from cli import db_cmds, framework_cmds, governance_cmds, ledger_cmds, report_cmds
from cli.context import AppContext
from cli.present import safe
from ledger.errors import AssureError


class AssureGroup(click.Group):
    """A click group whose invoke() maps AssureError to a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssureError as e:
            if ctx.obj is not None and getattr(ctx.obj, "verbose", False):
                raise
            click.echo(f"Error: {safe(e.diagnostics())}", err=True)
            sys.exit(e.exit_code)
        except SQLAlchemyError as e:
            # An unreachable or unusable database is a usage problem (wrong --db / ASSURE_DB).
            if ctx.obj is not None and getattr(ctx.obj, "verbose", False):
                raise
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            click.echo(safe(f"Error: database {ctx.obj.display_url if ctx.obj else ''}: {reason}"), err=True)
            sys.exit(2)
        except click.exceptions.Exit:
            raise
        except click.ClickException as e:
            # Usage errors are bad input: exit 2 (click's own convention too).
            e.exit_code = 2 if e.exit_code == 1 else e.exit_code
            raise


@click.group(cls=AssureGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar="ASSURE_DB",
    default=None,
    metavar="URL",
    help="Database URL (env ASSURE_DB). Default: sqlite:///.assure/ledger.db "
    "under the current directory. PostgreSQL: postgresql+psycopg://user@host/db",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress and show tracebacks.")
@click.version_option(package_name="assure")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, verbose: bool) -> None:
    """Assure: a signed, hash-chained evidence ledger for AI governance.

    Records (evaluations, model versions, approvals, exceptions, ...) are
    appended as signed DSSE envelopes to an append-only ledger, mapped to NIST
    AI RMF 1.0, ISO/IEC 42001:2023 and the EU AI Act, and verified offline.

    Exit codes: 0 ok; 1 integrity failure or failed check; 2 bad input or usage.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = AppContext(db_url=db_url, verbose=verbose)


for _module in (db_cmds, ledger_cmds, framework_cmds, governance_cmds, report_cmds):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
