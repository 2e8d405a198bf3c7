"""Server commands: ``assure serve``, ``assure push``, ``assure tokens``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cli.context import AppContext, pass_app
from cli.framework_cmds import frameworks_dir_option
from cli.options import json_option, max_clock_skew, passphrase_option
from cli.output import echo_json, echo_table

# FastAPI, uvicorn and httpx are imported inside each command, so '--help' starts fast.


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Keep the default and put a TLS reverse proxy in front (see README).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes (PostgreSQL only: SQLite is served by one process, writes serialised).")
@click.option("--public-tiles", is_flag=True,
              help="Serve /checkpoint and /tile/... without a token (for transparency-log clients and witnesses).")
@click.option("--checkpoint-key", "cp_key", envvar="ASSURE_LEDGER_KEY", default=None, metavar="ADMIN_PEM",
              help="Admin key that signs checkpoints (at most one per --checkpoint-interval, when the tree grew) "
                   "and packages (env ASSURE_LEDGER_KEY). Without it /checkpoint serves the newest stored one.")
@click.option("--checkpoint-interval", type=click.FloatRange(0.1, 86_400), default=10.0, show_default=True,
              metavar="SECONDS", help="Sign at most one checkpoint per this many seconds.")
@click.option("--max-body", type=click.IntRange(1024), default=None, metavar="BYTES",
              help="Largest request body (default 16 MiB).")
@click.option("--max-batch", type=click.IntRange(1, 100_000), default=None, metavar="N",
              help="Most envelopes per request (default 10,000).")
@click.option("--approval-policy", "policy_path", envvar="ASSURE_APPROVAL_POLICY", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Approval policy YAML (env ASSURE_APPROVAL_POLICY; default: built-in).")
@frameworks_dir_option
@passphrase_option
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="Server log level.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log every request.")
@pass_app
def serve_cmd(app: AppContext, host: str, port: int, workers: int, public_tiles: bool, cp_key: str | None,
              checkpoint_interval: float, max_body: int | None, max_batch: int | None, policy_path: Path | None,
              frameworks_dir: Path, passphrase_env: str | None, log_level: str, access_log: bool) -> None:
    """HTTP API: pipelines post signed envelopes, tools read coverage, proofs and tiles.

    Every request needs a bearer token ('assure tokens create') except, with
    --public-tiles, /checkpoint and /tile/...; OpenAPI pages at /docs. The
    database is --db / ASSURE_DB, as for every command.
    """
    import uvicorn

    from cli.options import load_key
    from ledger.checkpoints import require_admin_key
    from server import settings as s

    engine = app.ledger_engine()
    if workers > 1 and engine.dialect.name == "sqlite":
        raise click.UsageError("SQLite is served by one process (--workers 1); use PostgreSQL for more")
    if cp_key:
        require_admin_key(engine, load_key(cp_key, passphrase_env, what="--checkpoint-key"))  # type: ignore[arg-type]
    conf = s.Settings(
        db_url=app.url, public_tiles=public_tiles, max_body_bytes=max_body or s.MAX_BODY_BYTES,
        max_batch=max_batch or s.MAX_BATCH, frameworks_dir=str(frameworks_dir),
        policy_path=str(policy_path) if policy_path else None,
        checkpoint_key=str(Path(cp_key).resolve()) if cp_key else None, checkpoint_interval=checkpoint_interval,
        passphrase_env=passphrase_env, max_skew=int(max_clock_skew().total_seconds()),
    )
    os.environ[s.ENV] = conf.to_env()
    click.echo(f"assure serve: {app.display_url} on http://{host}:{port} ({workers} worker(s))", err=True)
    uvicorn.run("server.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=access_log, proxy_headers=True, server_header=False)


@click.command("push")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--server", "url", envvar="ASSURE_SERVER", required=True, metavar="URL",
              help="The server, e.g. https://assure.example.com (env ASSURE_SERVER).")
@click.option("--token", envvar="ASSURE_TOKEN", default=None, metavar="TOKEN",
              help="A pipeline token (env ASSURE_TOKEN; prefer the variable: arguments show in process lists).")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Retries on connection errors and 5xx answers, with exponential backoff.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120.0, show_default=True, metavar="SECONDS",
              help="Per-request timeout.")
@json_option
def push_cmd(files: tuple[str, ...], url: str, token: str | None, retries: int, timeout: float,
             as_json: bool) -> None:
    """Push signed envelopes from FILES to an 'assure serve' server, all-or-nothing ('-' = stdin).

    Sign offline first ('assure sign'): the server holds no key, and judges each
    envelope by its signatures. Retrying is safe: an envelope the ledger already
    holds is answered with its original receipt (status duplicate). With --json
    the receipts are printed as 'assure append --json' prints them.
    """
    from ledger.ingest import read_documents
    from server.client import push

    docs = [d for f in files for d in read_documents(f, stdin=sys.stdin.buffer if f == "-" else None)]
    receipt = push(url, docs, token=token, retries=retries, timeout=timeout)
    if as_json:
        echo_json(receipt)
        return
    entries = receipt["entries"]
    dup = sum(e.get("status") == "duplicate" for e in entries)
    click.echo(f"pushed {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
               + (f" ({dup} already in the ledger)" if dup else "") + f"; tree size {receipt['tree_size']}")
    echo_table(["seq", "entry_hash", "kind", "system", "status", "source"],
               [[e["seq"], e["entry_hash"], e["kind"], e["system"], e.get("status"), e["source"]] for e in entries])


@click.group("tokens")
def tokens_group() -> None:
    """Bearer tokens of the HTTP API: viewer, auditor, pipeline, admin."""


@tokens_group.command("create")
@click.option("--role", required=True, type=click.Choice(["viewer", "auditor", "pipeline", "admin"]),
              help="viewer: statuses and metadata; auditor: also payloads and packages; pipeline: post entries; "
                   "admin: all, and manage tokens.")
@click.option("--name", required=True, help="Who or what holds it (e.g. 'ci: credit-scoring').")
@click.option("--expires", default=None, metavar="90d", help="Lifetime (e.g. 90d, 12w, 24h; default: none).")
@json_option
@pass_app
def tokens_create_cmd(app: AppContext, role: str, name: str, expires: str | None, as_json: bool) -> None:
    """Make a token and print it once (only its SHA-256 is stored)."""
    from ledger.api_tokens import create_token
    from ledger.timeutil import parse_duration

    life = parse_duration(expires, field="--expires") if expires else None
    token, info = create_token(app.ledger_engine(), role=role, name=name, expires_in=life)
    if as_json:
        echo_json({"token": token, **info.to_json()})
        return
    click.echo(token)
    click.echo(f"token {info.token_id} ({role}, {info.to_json()['expires_at'] or 'no expiry'}); "
               "shown once: store it now", err=True)


@tokens_group.command("list")
@json_option
@pass_app
def tokens_list_cmd(app: AppContext, as_json: bool) -> None:
    """Every token: id, name, role, created, expires, state (never the token)."""
    from ledger.api_tokens import list_tokens

    rows = [t.to_json() for t in list_tokens(app.ledger_engine())]
    if as_json:
        echo_json(rows)
        return
    echo_table(["id", "role", "state", "created", "expires", "name"],
               [[r["token_id"], r["role"], r["state"], r["created_at"], r["expires_at"] or "-", r["name"]]
                for r in rows])


@tokens_group.command("revoke")
@click.argument("token_id")
@pass_app
def tokens_revoke_cmd(app: AppContext, token_id: str) -> None:
    """Revoke the token TOKEN_ID from now on (see 'assure tokens list')."""
    from ledger.api_tokens import revoke_token

    info = revoke_token(app.ledger_engine(), token_id)
    click.echo(f"token {info.token_id} ({info.role}, {info.name}) revoked")


COMMANDS: list[click.Command] = [serve_cmd, push_cmd, tokens_group]
