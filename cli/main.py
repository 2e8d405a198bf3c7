"""Root ``assure`` command group and the single error boundary.

Every library error derives from :class:`ledger.errors.AssureError` and carries
its exit code; :class:`AssureGroup` turns it into ``Error: <message>`` on stderr
and that exit code, with no traceback (``--verbose`` shows one).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import sys
from typing import Any

import click

from cli.context import AppContext
from cli.present import safe
from ledger.errors import AssureError

# At exit the interpreter's last collections walk every object still alive (a query holds the
# framework library, some 100,000 objects): 35 of a 240 ms 'assure coverage' (bench_cli). Frozen
# first, they are skipped; they are still freed by reference counting, and every file a
# command writes is closed by the command. Registered first, so it runs after later handlers.
atexit.register(gc.freeze)

#: Every command: (module, attribute, one-line help). A command's module (and the
#: library it needs) is imported only when that command runs, so ``assure --help``
#: and usage errors start fast. tests/cli checks the one-line help is the command's own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "append": ("cli.ledger_cmds", "append_cmd",
               "Append records or signed envelopes from FILES (YAML, JSON, JSON Lines; '-' = stdin)."),
    "checkpoint": ("cli.ledger_cmds", "checkpoint_cmd",
                   'Sign a tree head (C2SP tlog-checkpoint note: origin, size, root).'),
    "controls": ("cli.framework_cmds", "controls_group",
                 'Internal controls: what each satisfies and what evidence proves it.'),
    "coverage": ("cli.governance_cmds", "coverage_cmd",
                 'Which obligations are covered for a system, by which evidence, and what is missing.'),
    "db": ("cli.db_cmds", "db_group",
           'Database schema: migrate and inspect (Alembic).'),
    "exceptions": ("cli.governance_cmds", "exceptions_cmd",
                   'Exceptions (risk acceptances): owner, controls, compensating controls, remediation, days left.'),
    "export": ("cli.export_cmds", "export_group",
               "Write a system's assessment and the framework library in other tools' formats."),
    "frameworks": ("cli.framework_cmds", "frameworks_group",
                   'Framework definitions: NIST AI RMF, NIST AI 600-1, ISO/IEC 42001, EU AI Act, yours.'),
    "gaps": ("cli.governance_cmds", "gaps_cmd",
             'Each missing, stale, failing, partial or needs-review requirement, with why and the evidence that would close it.'),
    "gate": ("cli.governance_cmds", "gate_cmd",
             'Release gate for CI: exit 0 if MODEL_VERSION may ship, 1 with the reasons if not.'),
    "ingest": ("cli.ingest_cmds", "ingest_group",
               'Append signed records read from other tools: an MLflow model version and its evaluation runs.'),
    "init": ("cli.ledger_cmds", "init_cmd",
             'Create the schema and the genesis entry trusting the admin key.'),
    "keys": ("cli.key_cmds", "keys_group",
             'Signing keys: generate them, and trust or revoke them in the ledger.'),
    "kpis": ("cli.governance_cmds", "kpis_cmd",
             'Governance KPIs: coverage, evaluation and documentation coverage, freshness, automation, exceptions and their ageing, time to release approval, gate pass rate.'),
    "log": ("cli.ledger_cmds", "log_cmd",
            'List entries in sequence order.'),
    "map": ("cli.framework_cmds", "map_cmd",
            'Crosswalk look-up: requirements of another framework related to REQ_ID.'),
    "package": ("cli.report_cmds", "package_cmd",
                'Write an audit package: audit.pdf, bundle.json and a signed manifest, in one zip.'),
    "proof": ("cli.ledger_cmds", "proof_group",
              'Merkle proofs on demand (RFC 9162), e.g. for a receipt kept without a checkpoint.'),
    "push": ("cli.server_cmds", "push_cmd",
             "Push signed envelopes from FILES to an 'assure serve' server, all-or-nothing ('-' = stdin)."),
    "reindex": ("cli.ledger_cmds", "reindex_cmd",
                'Rebuild the derived tables (records, control links, signers, key registry, Merkle nodes) from the entries.'),
    "report": ("cli.report_cmds", "report_cmd",
               'Write the internal coverage report (HTML or PDF), without a bundle or signatures.'),
    "serve": ("cli.server_cmds", "serve_cmd",
              'HTTP API: pipelines post signed envelopes, tools read coverage, proofs and tiles.'),
    "show": ("cli.ledger_cmds", "show_cmd",
             'Show one entry (by SEQ or entry HASH / hash prefix) with its record and signatures.'),
    "sign": ("cli.ledger_cmds", "sign_cmd",
             'Sign records into DSSE envelopes, offline (no database).'),
    "systems": ("cli.governance_cmds", "systems_group",
                'Registered AI systems.'),
    "tokens": ("cli.server_cmds", "tokens_group",
               'Bearer tokens of the HTTP API: viewer, auditor, pipeline, admin.'),
    "trace": ("cli.governance_cmds", "trace_cmd",
              'Model version → evaluations → risk assessment → approvals → exceptions → incidents.'),
    "verify": ("cli.ledger_cmds", "verify_cmd",
               'Recompute every hash, the chain, the Merkle tree, every signature and rule, and every derived table.'),
    "verify-gate": ("cli.governance_cmds", "verify_gate_cmd",
                    "Check a signed release-gate verdict (from 'assure gate --sign') offline, with no database."),
    "verify-package": ("cli.report_cmds", "verify_package_cmd",
                       'Verify an audit package offline: no database, no network.'),
}


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
        except click.exceptions.Exit:
            raise
        except click.ClickException as e:
            # Usage errors are bad input: exit 2 (click's own convention too).
            e.exit_code = 2 if e.exit_code == 1 else e.exit_code
            raise
        except Exception as e:
            if not _is_database_error(e):
                raise
            # An unreachable or unusable database is a usage problem (wrong --db / ASSURE_DB).
            if ctx.obj is not None and getattr(ctx.obj, "verbose", False):
                raise
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            click.echo(safe(f"Error: database {ctx.obj.display_url if ctx.obj else ''}: {reason}"), err=True)
            sys.exit(2)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        command: click.Command = getattr(importlib.import_module(spec[0]), spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the one-line helps above, importing no command module."""
        limit = formatter.width - 6 - max(len(n) for n in COMMANDS)
        rows = [(name, _shortened(spec[2], limit)) for name, spec in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shortened(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters, with "..." if cut (as click does)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."


@click.group(cls=AssureGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar="ASSURE_DB",
    default=None,
    metavar="URL",
    help="Database URL, or a SQLite file's path (env ASSURE_DB). Default: sqlite:///.assure/ledger.db "
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


def _is_database_error(e: Exception) -> bool:
    """An SQLAlchemy error, or a ``sqlite3`` one from the read path (each checked only if loaded)."""
    exc = sys.modules.get("sqlalchemy.exc")
    sqlite3 = sys.modules.get("sqlite3")
    return (exc is not None and isinstance(e, exc.SQLAlchemyError)) or (
        sqlite3 is not None and isinstance(e, sqlite3.Error))
