"""Ingest commands: records read from other tools (``assure ingest mlflow``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from cli.context import AppContext, pass_app
from cli.options import json_option, passphrase_option, require_key
from cli.output import echo_json, echo_table

# MLflow retries an unreachable server for minutes by default; fail within seconds unless told otherwise.
_MLFLOW_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


@click.group("ingest")
def ingest_group() -> None:
    """Append signed records read from other tools: an MLflow model version and its evaluation runs."""


@ingest_group.command("mlflow")
@click.option("--tracking-uri", required=True, metavar="URI",
              help="MLflow tracking and registry URI: http(s)://host, sqlite:///mlflow.db, databricks, ...")
@click.option("--model", required=True, metavar="NAME", help="Registered model name.")
@click.option("--version", "version", default=None, metavar="V", help="Model version number (default: the newest).")
@click.option("--alias", default=None, metavar="A", help="Model version alias, e.g. champion.")
@click.option("--system", required=True, metavar="S", help="The Assure system the model belongs to (registered).")
@click.option("--key", "key_path", envvar="ASSURE_SIGNING_KEY", required=True, metavar="PEM",
              help="Signs the records (env ASSURE_SIGNING_KEY).")
@click.option("--thresholds", "thresholds_path", default=None, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="YAML bounds per metric ('metrics:') and per suite ('suites:').")
@click.option("--dry-run", is_flag=True, help="Print what would be appended; write nothing.")
@passphrase_option
@json_option
@pass_app
def ingest_mlflow_cmd(app: AppContext, tracking_uri: str, model: str, version: str | None, alias: str | None,
                      system: str, key_path: str, thresholds_path: Path | None, dry_run: bool,
                      passphrase_env: str | None, as_json: bool) -> None:
    """Append a registered model version and its evaluation runs from MLflow, signed.

    Appends one model_version record (version NAME/VERSION, SHA-256 over the
    model's artifact files, git commit and datasets of its source run) and one
    evaluation per finished run tagged assure.evaluates=models:/NAME/VERSION
    or that logged metrics against the version's logged model (suite: the
    run's assure.suite tag, else its name; passed: every bound of --thresholds
    that applies is met). Records already in the ledger are not appended
    again, so running it twice appends nothing. Needs pip install
    'assure[mlflow]'.
    """
    from interop.mlflow_ingest import ingest_mlflow
    from interop.mlflow_thresholds import load_thresholds
    from ledger.errors import InputError
    from ledger.store import Ledger

    if version is not None and alias is not None:
        raise InputError("give --version or --alias, not both")
    thresholds = load_thresholds(thresholds_path)
    key = require_key(key_path, passphrase_env)
    ledger = Ledger(app.ledger_engine())
    for name, value in _MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if not app.verbose:  # the error names the refused connection; urllib3's retry warnings only repeat it
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    result = ingest_mlflow(ledger, tracking_uri=tracking_uri, model=model, version=version, alias=alias,
                           system=system, key=key, thresholds=thresholds, dry_run=dry_run)
    if as_json:
        echo_json(result.to_json())
        return
    new = len(result.new)
    verb = "would append" if dry_run else "appended"
    click.echo(f"{result.model_version} for {system}: {verb} {new} record(s), "
               f"{len(result.planned) - new} already in the ledger")
    rows = []
    for p in result.planned:
        rec = p.record
        what = rec.get("suite", "") + (f" passed={str(rec['passed']).lower()}" if "passed" in rec else "")
        state = f"entry {p.existing_seq}" if p.existing_seq is not None else verb
        rows.append([rec["kind"], what.strip(), rec["observed_at"], p.source, state])
    echo_table(["kind", "suite", "observed_at", "source", "state"], rows)
    for run_id, why in result.skipped:
        click.echo(f"skipped run {run_id}: {why}")


COMMANDS: list[click.Command] = [ingest_group]
