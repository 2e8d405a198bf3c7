"""``assure ingest mlflow`` as a user runs it: dry run, text and JSON output, bad input, MLflow missing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.keys import write_key_pair
from tests.conftest import table_bytes
from tests.interop.mlflow_ingest.conftest import QUIET_MLFLOW

SYSTEM = "credit-scoring"
pytestmark = QUIET_MLFLOW
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def store(ledger, keys, mlflow_store, tmp_path):
    """credit-model 1 with a passing performance run, a pipeline key file and a thresholds file in tmp_path."""
    write_key_pair(keys.pipeline, tmp_path / "ci.pem")
    (tmp_path / "thresholds.yaml").write_text("metrics:\n  auc: {min: 0.78}\n")
    mv = mlflow_store.register("credit-model")
    mlflow_store.client.set_registered_model_alias("credit-model", "champion", mv.version)
    mlflow_store.evaluation({"auc": 0.81}, evaluates="models:/credit-model/1", suite="performance")
    return mlflow_store


def ingest(run_cli, ledger, store, *extra: str):
    args = ["ingest", "mlflow", "--tracking-uri", store.uri, "--model", "credit-model", "--system", SYSTEM,
            "--key", "ci.pem", "--thresholds", "thresholds.yaml", *extra]
    return run_cli(*args, db=ledger.engine.url.render_as_string(hide_password=False))


def test_dry_run_then_ingest_then_nothing_new(run_cli, ledger, store) -> None:
    before = table_bytes(ledger.engine)
    r = ingest(run_cli, ledger, store, "--alias", "champion", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["dry_run"] is True and out["appended"] == [] and out["model_version"] == "credit-model/1"
    assert [p["record"]["kind"] for p in out["records"]] == ["model_version", "evaluation"]
    assert [p["already_in_ledger"] for p in out["records"]] == [None, None]
    assert table_bytes(ledger.engine) == before

    r = ingest(run_cli, ledger, store, "--version", "1")
    assert r.exit_code == 0, r.output
    assert "credit-model/1 for credit-scoring: appended 2 record(s), 0 already in the ledger" in r.stdout
    assert "performance passed=true" in r.stdout

    after = table_bytes(ledger.engine)
    r = ingest(run_cli, ledger, store)
    assert r.exit_code == 0 and "appended 0 record(s), 2 already in the ledger" in r.stdout, r.output
    assert table_bytes(ledger.engine) == after


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@sqlite_only
@pytest.mark.parametrize(
    ("args", "thresholds", "message"),
    [
        (["--model", "nope"], None, "model 'nope' not found in the MLflow registry"),
        (["--version", "7"], None, "model 'credit-model' version 7 not found in the MLflow registry at sqlite:"),
        (["--alias", "shadow"], None, "model 'credit-model' alias 'shadow' not found in the MLflow registry"),
        (["--version", "1", "--alias", "champion"], None, "give --version or --alias, not both"),
        (["--system", "nope"], None, "field '--system': system 'nope' is not registered"),
        ([], "metrics:\n  auc: {min: high}\n", "thresholds.yaml: field 'metrics.auc.min'"),
        ([], "metrics:\n  auc: {}\n", "thresholds.yaml: field 'metrics.auc': give min, max or both"),
        ([], "metrics:\n  auc: {min: 0.9, max: 0.1}\n", "min 0.9 is above max 0.1"),
        ([], "metric:\n  auc: {min: 0.9}\n", "thresholds.yaml: field 'metric': unknown field"),
        ([], "- auc\n", "thresholds.yaml: a thresholds file is one mapping"),
        (["--tracking-uri", "sqlite:///absent/mlflow.db"], None, "no MLflow store at absent/mlflow.db"),
        (["--tracking-uri", "http://user:secret@127.0.0.1:{port}"], None, "MLflow at http://user:***@127.0.0.1:"),
        (["--tracking-uri", "postgresql+psycopg://user:secret@127.0.0.1:{port}/mlflow"], None,
         "cannot connect to its database"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(run_cli, ledger, store, tmp_path, args, thresholds, message) -> None:
    if thresholds is not None:
        (tmp_path / "thresholds.yaml").write_text(thresholds)
    args = [a.format(port=_closed_port()) for a in args]
    before = table_bytes(ledger.engine)
    r = ingest(run_cli, ledger, store, *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output and "secret" not in r.output
    assert table_bytes(ledger.engine) == before
    assert not (tmp_path / "absent").exists()


@sqlite_only
def test_without_mlflow_the_command_says_how_to_install_it(ledger, keys, tmp_path) -> None:
    """A Python where 'import mlflow' fails, as it does without the extra (a shim first on the path)."""
    shim = tmp_path / "shim" / "mlflow"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'mlflow'\", name='mlflow')\n")
    write_key_pair(keys.pipeline, tmp_path / "ci.pem")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(shim.parent), str(Path(__file__).parents[3])]),
                        "ASSURE_DB": ledger.engine.url.render_as_string(hide_password=False)}
    before = table_bytes(ledger.engine)
    r = subprocess.run(
        [sys.executable, "-c", "from cli.main import cli; cli()", "ingest", "mlflow", "--tracking-uri",
         "sqlite:///mlflow.db", "--model", "m", "--system", SYSTEM, "--key", "ci.pem"],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "Error: MLflow is not installed: pip install 'assure[mlflow]' (or mlflow-skinny)"
    assert table_bytes(ledger.engine) == before
