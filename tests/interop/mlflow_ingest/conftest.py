"""A real MLflow tracking store and model registry (SQLite) per test, filled through MLflow's own client.

MLflow creates its schema with its own migrations (several seconds), so that is
done once per session and the empty store's file is copied for each test.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow", reason="MLflow ingest needs the 'mlflow' extra (make test installs it)")

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput

#: MLflow's store uses a loader strategy SQLAlchemy 2.1 deprecates; not ours to fix.
QUIET_MLFLOW = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(uri, uri).search_experiments()  # creates and migrates the schema
    return path


@dataclass
class MlflowStore:
    """An MLflow store in a temporary directory and the client that writes it."""

    uri: str
    root: Path
    client: MlflowClient
    experiment_id: str

    def register(self, name: str, *, files: dict[str, bytes] | None = None, commit: str | None = None,
                 datasets: tuple[tuple[str, str], ...] = ()) -> Any:
        """A training run that logs model files (and datasets), registered as a new version of ``name``."""
        tags = {"mlflow.source.git.commit": commit} if commit else {}
        run = self.client.create_run(self.experiment_id, run_name="train", tags=tags)
        if datasets:
            self.client.log_inputs(run.info.run_id, [DatasetInput(Dataset(n, d, "local", f"file:///data/{n}"))
                                                     for n, d in datasets])
        local = self.root / f"model-{run.info.run_id}"
        for rel, data in (files or {"MLmodel": b"flavors: {}\n", "model.pkl": b"\x80\x04weights"}).items():
            (local / rel).parent.mkdir(parents=True, exist_ok=True)
            (local / rel).write_bytes(data)
        self.client.log_artifacts(run.info.run_id, str(local), "model")
        self.client.set_terminated(run.info.run_id)
        try:
            self.client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            self.client.create_registered_model(name)
        return self.client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)

    def evaluation(self, metrics: dict[str, float], *, evaluates: str | None = None, suite: str | None = None,
                   run_name: str = "eval", model_id: str | None = None, finish: bool = True) -> str:
        """An evaluation run logging ``metrics`` (against ``model_id`` if given); returns its id."""
        tags = {}
        if evaluates:
            tags["assure.evaluates"] = evaluates
        if suite:
            tags["assure.suite"] = suite
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        for key, value in metrics.items():
            self.client.log_metric(run.info.run_id, key, value, model_id=model_id)
        if finish:
            self.client.set_terminated(run.info.run_id)
        time.sleep(0.002)  # runs end at distinct milliseconds, so their order is their time order
        return run.info.run_id


@pytest.fixture
def mlflow_store(_mlflow_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowStore:
    root = tmp_path / "mlflow"
    root.mkdir()
    shutil.copy(_mlflow_template, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # MLflow's client resolves logged models through it
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("evals", artifact_location=(root / "artifacts").as_uri())
    return MlflowStore(uri, root, client, exp)
