"""``assure ingest mlflow`` against a real MLflow registry, into a real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from controls import service
from controls.approvals import load_policy
from controls.graph import ControlGraph, load_graph
from interop.mlflow_ingest import ingest_mlflow
from interop.mlflow_thresholds import load_thresholds
from ledger.errors import InputError
from ledger.store import Ledger
from ledger.timeutil import utcnow
from tests.conftest import docs, model_version_record, table_bytes
from tests.interop.mlflow_ingest.conftest import QUIET_MLFLOW

SYSTEM = "credit-scoring"
pytestmark = QUIET_MLFLOW
THRESHOLDS = {
    "metrics": {"auc": {"min": 0.78}},
    "suites": {"fairness": {"demographic_parity_gap": {"max": 0.05}}},
}


@pytest.fixture
def thresholds(tmp_path: Path) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(THRESHOLDS))
    return path


def records(ledger: Ledger, kind: str) -> list[dict]:
    return [json.loads(ledger.get(r["seq"]).payload) for r in ledger.iter_records(kind=kind, system=SYSTEM)]


def test_ingest_appends_the_version_and_its_runs_once(ledger, keys, mlflow_store, thresholds) -> None:
    mv = mlflow_store.register("credit-model", commit="4e1d2c9ab", datasets=(("applications 2026Q3", "d2b0c8c5"),),
                               files={"MLmodel": b"flavors: {}\n", "data/model.pkl": b"\x00weights"})
    uri = f"models:/credit-model/{mv.version}"
    mlflow_store.evaluation({"auc": 0.81, "brier": 0.14}, evaluates=uri, suite="performance")
    mlflow_store.evaluation({"demographic_parity_gap": 0.09, "auc": 0.80}, evaluates=uri, suite="fairness")
    running = mlflow_store.evaluation({"auc": 0.5}, evaluates=uri, suite="performance", finish=False)
    mlflow_store.evaluation({"auc": 0.1}, evaluates="models:/credit-model/99", suite="performance")  # another version

    result = ingest_mlflow(ledger, tracking_uri=mlflow_store.uri, model="credit-model", system=SYSTEM,
                           key=keys.pipeline, thresholds=load_thresholds(thresholds))
    assert [a.kind for a in result.appended] == ["model_version", "evaluation", "evaluation"]
    assert result.skipped == [(running, "status RUNNING: only finished runs are ingested")]

    (version,) = [r for r in records(ledger, "model_version") if r["version"] == "credit-model/1"]
    model_dir = next((mlflow_store.root / "artifacts").rglob("model"))
    by_shell = subprocess.run("find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
                              shell=True, cwd=model_dir, capture_output=True, text=True, check=True).stdout
    assert version["artifact_sha256"] == by_shell.split()[0]
    assert version["commit"] == "4e1d2c9ab"
    assert version["datasets"] == ["applications-2026Q3@d2b0c8c5"]
    perf, fair = records(ledger, "evaluation")[-2:]
    assert (perf["suite"], perf["passed"], perf["metrics"], perf["thresholds"]) == (
        "performance", True, {"auc": 0.81, "brier": 0.14}, {"auc": {"min": 0.78}})
    assert (fair["suite"], fair["passed"]) == ("fairness", False)
    assert fair["thresholds"] == {"auc": {"min": 0.78}, "demographic_parity_gap": {"max": 0.05}}
    assert "demographic_parity_gap 0.09 is above its maximum 0.05" in fair["notes"]

    before = table_bytes(ledger.engine)
    again = ingest_mlflow(ledger, tracking_uri=mlflow_store.uri, model="credit-model", system=SYSTEM,
                          key=keys.pipeline, thresholds=load_thresholds(thresholds))
    assert again.appended == [] and all(p.existing_seq is not None for p in again.planned)
    assert table_bytes(ledger.engine) == before


def test_runs_linked_by_mlflow_logged_model_metrics(ledger, keys, mlflow_store, thresholds) -> None:
    """MLflow 3's own link: metrics logged against the version's logged model (not by its training run)."""
    client = mlflow_store.client
    train = client.create_run(mlflow_store.experiment_id, run_name="train")
    logged = client.create_logged_model(mlflow_store.experiment_id, name="clf", source_run_id=train.info.run_id)
    client.log_artifact(train.info.run_id, str(thresholds))  # any file in the run; the model's own files:
    (mlflow_store.root / "m").mkdir()
    (mlflow_store.root / "m" / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifacts(logged.model_id, str(mlflow_store.root / "m"))
    client.log_metric(train.info.run_id, "train_loss", 0.2, model_id=logged.model_id)
    client.create_registered_model("clf")
    mv = client.create_model_version("clf", f"models:/{logged.model_id}", run_id=train.info.run_id,
                                     model_id=logged.model_id)
    run_id = mlflow_store.evaluation({"auc": 0.9}, suite="performance", model_id=logged.model_id)

    result = ingest_mlflow(ledger, tracking_uri=mlflow_store.uri, model="clf", version=str(mv.version),
                           system=SYSTEM, key=keys.pipeline, thresholds=load_thresholds(thresholds))
    assert [p.source for p in result.planned] == ["mlflow models:/clf/1", f"mlflow run {run_id}"]
    assert result.planned[1].record["passed"] is True
    assert f"metrics logged against model {logged.model_id}" in result.planned[1].record["notes"]


def _tiny_graph(tmp_path: Path) -> ControlGraph:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "controls.yaml").write_text(yaml.safe_dump({
        "format": "assure-controls/1",
        "catalog": {"id": "assure-default", "name": "One evaluation control", "version": "1"},
        "controls": [{"id": "EVAL-PERF-01", "title": "Performance evaluation", "description": "A passing run.",
                      "owner": "ML", "satisfies": ["nist-ai-rmf:MEASURE-2.3"],
                      "evidence": {"kind": "evaluation", "filters": {"suite": "performance", "passed": True}}}],
    }))
    return load_graph(user_dir=folder)


def test_the_gate_follows_the_ingested_evaluations(ledger, keys, mlflow_store, thresholds, tmp_path) -> None:
    graph = _tiny_graph(tmp_path)
    mv = mlflow_store.register("credit-model")
    uri = f"models:/credit-model/{mv.version}"
    mlflow_store.evaluation({"auc": 0.70}, evaluates=uri, suite="performance")

    def ingest() -> list:
        return ingest_mlflow(ledger, tracking_uri=mlflow_store.uri, model="credit-model", system=SYSTEM,
                             key=keys.pipeline, thresholds=load_thresholds(thresholds)).appended

    def gate():
        verdict, _ = service.release_gate(ledger.engine, SYSTEM, model_version="credit-model/1", graph=graph,
                                          policy=load_policy(), as_of=utcnow())
        return verdict

    model_version = ingest()[0]
    for approver in (keys.approver, keys.approver2):
        ledger.append(docs({"kind": "approval", "system": SYSTEM, "observed_at": model_version_time(ledger),
                            "target": model_version.entry_hash, "decision": "approve"}), signing_key=approver)
    verdict = gate()
    assert not verdict.passed
    assert verdict.reasons == [r for r in verdict.reasons if "EVAL-PERF-01" in r and "failing" in r] != []

    mlflow_store.evaluation({"auc": 0.83}, evaluates=uri, suite="performance")  # the retrained metric passes
    assert [a.kind for a in ingest()] == ["evaluation"]
    assert gate().passed, gate().reasons


def model_version_time(ledger: Ledger) -> str:
    return records(ledger, "model_version")[-1]["observed_at"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_run_fails_when_a_bounded_metric_is_missing_or_not_finite(ledger, keys, mlflow_store, thresholds) -> None:
    mlflow_store.register("credit-model")
    run_id = mlflow_store.evaluation({"auc": float("nan"), "latency_ms": 31.0}, run_name="nightly perf",
                                     evaluates="models:/credit-model/1")

    def dry_run():
        return ingest_mlflow(ledger, tracking_uri=mlflow_store.uri, model="credit-model", system=SYSTEM,
                             key=keys.pipeline, thresholds=load_thresholds(thresholds), dry_run=True)

    with pytest.raises(InputError, match=f"mlflow run {run_id}: field 'assure.suite': suite 'nightly perf'"):
        dry_run()  # a run name with a space is no suite id: the tag must say
    mlflow_store.client.set_tag(run_id, "assure.suite", "performance")
    evaluation = dry_run().planned[1].record
    assert evaluation["metrics"] == {"latency_ms": 31.0} and evaluation["thresholds"] == {}
    assert evaluation["passed"] is False
    assert "Not finite, left out: auc." in evaluation["notes"]
    assert "thresholds name metrics the run did not log: auc" in evaluation["notes"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_version_the_ledger_holds_is_kept_and_another_digest_refused(ledger, keys, mlflow_store,
                                                                        thresholds) -> None:
    mlflow_store.register("credit-model")
    mlflow_store.evaluation({"auc": 0.8}, evaluates="models:/credit-model/1", suite="performance")
    ingest = {"tracking_uri": mlflow_store.uri, "model": "credit-model", "system": SYSTEM, "key": keys.pipeline,
              "thresholds": load_thresholds(thresholds)}
    digest = ingest_mlflow(ledger, dry_run=True, **ingest).planned[0].record["artifact_sha256"]
    (by_hand,) = ledger.append(docs(model_version_record(version="credit-model/1", artifact_sha256=digest)),
                               signing_key=keys.pipeline)
    result = ingest_mlflow(ledger, **ingest)
    assert result.planned[0].existing_seq == by_hand.seq
    assert [a.kind for a in result.appended] == ["evaluation"]

    ledger.append(docs(model_version_record(version="credit-model/2", artifact_sha256="00" * 32)),
                  signing_key=keys.pipeline)
    mlflow_store.register("credit-model")
    before = table_bytes(ledger.engine)
    with pytest.raises(InputError, match=f"holds model version credit-model/2 .* digest {'00' * 32}, but its "
                                         f"MLflow artifacts hash to [0-9a-f]{{64}}"):
        ingest_mlflow(ledger, version="2", **ingest)
    assert table_bytes(ledger.engine) == before
