"""A tiny local MLflow store for the demo: support-bot version 1 (alias champion) and its safety run.

Usage: python demo/mlflow_store.py DIR  (prints the tracking URI). Everything is
written through MLflow's own client, as a training and an evaluation job would.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput


def main(root: Path) -> str:
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root.resolve() / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("support-bot", artifact_location=(root.resolve() / "artifacts").as_uri())

    train = client.create_run(exp, run_name="train", tags={"mlflow.source.git.commit": "7c1f0a2"})
    client.log_inputs(train.info.run_id, [DatasetInput(Dataset("support-tickets-2026q3", "5e2b9c01", "local",
                                                               "s3://example-data/support-tickets-2026q3"))])
    model = root / "model"
    model.mkdir(exist_ok=True)
    (model / "MLmodel").write_text("flavors:\n  python_function: {loader_module: support_bot}\n")
    (model / "weights.bin").write_bytes(bytes(range(256)) * 64)
    client.log_artifacts(train.info.run_id, str(model), "model")
    client.set_terminated(train.info.run_id)
    client.create_registered_model("support-bot")
    version = client.create_model_version("support-bot", f"{train.info.artifact_uri}/model",
                                          run_id=train.info.run_id)
    client.set_registered_model_alias("support-bot", "champion", version.version)

    evaluation = client.create_run(exp, run_name="safety-eval", tags={
        "assure.evaluates": f"models:/support-bot/{version.version}", "assure.suite": "safety"})
    client.log_metric(evaluation.info.run_id, "harmful_response_rate", 0.002)
    client.log_metric(evaluation.info.run_id, "jailbreak_success_rate", 0.011)
    client.set_terminated(evaluation.info.run_id)
    return uri


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
