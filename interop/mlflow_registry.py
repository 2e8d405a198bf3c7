"""Reading one model version and its evaluation runs from an MLflow tracking server or store.

Everything here goes through MLflow's own client (``MlflowClient``,
``mlflow.artifacts``); MLflow is imported only when a function runs, and its
absence is an :class:`~ledger.errors.InputError` that says how to install it.

Evaluation runs of a model version are found two ways (their union):

* runs tagged ``assure.evaluates`` with the version's model URI,
  ``models:/NAME/VERSION`` (any experiment);
* MLflow 3's own link: runs that logged metrics against the version's logged
  model (``log_metric(..., model_id=...)``, what ``mlflow.evaluate`` does),
  except the run that produced the model.

The artifact digest is computed here: MLflow records no digest of a model's
files, so they are downloaded and hashed (:func:`artifact_digest`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ledger.errors import InputError, NotFoundError

EVALUATES_TAG = "assure.evaluates"
INSTALL_HINT = "MLflow is not installed: pip install 'assure[mlflow]' (or mlflow-skinny)"
_DATABASES = frozenset({"postgresql", "mysql", "mssql"})
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})$")
T = TypeVar("T")


@dataclass(frozen=True)
class RunFacts:
    """What ingest needs from one MLflow run."""

    run_id: str
    name: str
    experiment_id: str
    status: str
    start_ms: int | None
    end_ms: int | None
    metrics: dict[str, float]
    tags: dict[str, str]
    datasets: tuple[tuple[str, str], ...]
    """(name, digest) of each dataset logged as the run's input."""
    linked_by: str = ""
    """How the run was found to evaluate the model version (empty for the source run)."""


@dataclass(frozen=True)
class VersionFacts:
    """One registered model version, its source run and its artifacts' digest."""

    name: str
    version: str
    created_ms: int
    source: str
    source_run: RunFacts | None
    artifact_sha256: str
    artifact_files: int

    @property
    def model_uri(self) -> str:
        """MLflow's URI of the version: ``models:/NAME/VERSION``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegistryRead:
    """A model version and the runs that evaluate it, oldest first."""

    model_version: VersionFacts
    evaluations: list[RunFacts]


def display_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``."""
    return re.sub(r"(//[^/@:\s]*:)[^/@\s]*@", r"\1***@", uri)


def read_registry(
    tracking_uri: str, model: str, *, version: str | None = None, alias: str | None = None
) -> RegistryRead:
    """The model version (``version``, ``alias``, else the newest) and its evaluation runs.

    Raises:
        NotFoundError: no such model, version or alias.
        InputError: MLflow is not installed, or the store is unreachable or unusable.
    """
    if version is not None and alias is not None:
        raise InputError("give --version or --alias, not both")
    client = _client(tracking_uri)
    where = display_uri(tracking_uri)
    asked = f"model {model!r}" + (f" version {version}" if version else f" alias {alias!r}" if alias else "")
    with _mlflow_errors(where, asked):
        mv = _model_version(client, model, version, alias)
    what = f"model {model!r} version {mv.version}"
    with _mlflow_errors(where, what), _global_uris(tracking_uri):
        if mv.status != "READY":
            raise InputError(f"{what} is {mv.status}, not READY", field="--version")
        source_run = _run_facts(client.get_run(mv.run_id)) if mv.run_id else None
        digest, files = _download_and_hash(client, tracking_uri, model, str(mv.version))
        facts = VersionFacts(model, str(mv.version), int(mv.creation_timestamp), mv.source, source_run,
                             digest, files)
        runs = _evaluation_runs(client, mv, facts.model_uri)
    return RegistryRead(facts, runs)


def artifact_digest(root: Path) -> tuple[str, int]:
    """SHA-256 over the ``sha256sum`` lines of every file under ``root``, in byte order of path.

    The same value as ``cd ROOT && find . -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum``. Returns the digest and the number of files.
    """
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix().encode())
    manifest = hashlib.sha256()
    for path in files:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        manifest.update(f"{h.hexdigest()}  ./{path.relative_to(root).as_posix()}\n".encode())
    return manifest.hexdigest(), len(files)


# ---------------------------------------------------------------- MLflow calls


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError as e:
        raise InputError(INSTALL_HINT) from e
    _require_local_store(tracking_uri)
    with _mlflow_errors(display_uri(tracking_uri), "tracking URI"):
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextmanager
def _global_uris(uri: str) -> Iterator[None]:
    """MLflow resolves a logged model's files through its global tracking URI, not the client's:
    point it at ``uri`` for the call, then put back exactly what was there (variables included)."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    before = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = before
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _require_local_store(uri: str) -> None:
    """A local store must exist: MLflow would create an empty one and find nothing in it."""
    path: str | None = None
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///").split("?", 1)[0]  # sqlite:////abs or sqlite:///relative
    elif uri.startswith("file:"):
        path = re.sub(r"^file:(//)?", "", uri)
    elif "://" not in uri and (uri.startswith((".", "/", "~")) or "/" in uri):  # not 'databricks'
        path = str(Path(uri).expanduser())
    if path is not None and not Path(path).exists():
        raise InputError(f"no MLflow store at {path}", field="--tracking-uri")
    if uri.split(":", 1)[0].split("+", 1)[0] in _DATABASES:
        _require_reachable_database(uri)


def _require_reachable_database(uri: str) -> None:
    """Connect once: MLflow retries an unreachable database for many minutes before it gives up."""
    import sqlalchemy

    connect_args = {"connect_timeout": 10} if uri.startswith("postgresql") else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as e:  # any failure to connect is the URI's or the server's
        reason = _reason(str(getattr(e, "orig", None) or e)) or type(e).__name__
        raise InputError(f"MLflow at {display_uri(uri)}: cannot connect to its database ({reason})",
                         field="--tracking-uri") from e


@contextmanager
def _mlflow_errors(where: str, what: str) -> Iterator[None]:
    """Turn MLflow's (and its store's) errors into ours, naming the store and what was asked."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as e:
        reason = _reason(e.message or str(e))
        if e.error_code == "RESOURCE_DOES_NOT_EXIST" or reason.endswith("not found."):
            raise NotFoundError(f"{what} not found in the MLflow registry at {where} ({reason})") from e
        raise InputError(f"MLflow at {where}: {reason}", field="--tracking-uri") from e
    except (OSError, ValueError) as e:
        raise InputError(f"MLflow at {where}: {_reason(str(e))}", field="--tracking-uri") from e
    except Exception as e:
        if type(e).__module__.startswith(("sqlalchemy", "requests", "urllib3")):
            reason = _reason(str(e)) or type(e).__name__
            raise InputError(f"MLflow at {where}: {reason}", field="--tracking-uri") from e
        raise


def _reason(text: str) -> str:
    """The first line of an error message, passwords hidden; for a refused connection, just that."""
    text = display_uri(text.strip().splitlines()[0] if text.strip() else "")
    if refused := re.search(r"\[Errno -?\d+\] [^\"')]+", text):
        return f"cannot connect ({refused.group(0)})"
    return text[:500]


def _model_version(client: Any, model: str, version: str | None, alias: str | None) -> Any:
    if version is not None:
        return client.get_model_version(model, version)
    if alias is not None:
        return client.get_model_version_by_alias(model, alias)
    client.get_registered_model(model)  # "not found" names the model, not a version
    versions = _all_pages(lambda token: client.search_model_versions(f"name = {_quote(model)}", page_token=token))
    if not versions:
        raise NotFoundError(f"model {model!r} has no versions")
    return max(versions, key=lambda v: int(v.version))


def _download_and_hash(client: Any, tracking_uri: str, model: str, version: str) -> tuple[str, int]:
    import mlflow.artifacts

    uri = client.get_model_version_download_uri(model, version)
    with tempfile.TemporaryDirectory(prefix="assure-mlflow-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri,
                                                    registry_uri=tracking_uri)
        digest, files = artifact_digest(Path(local))
    if files == 0:
        raise InputError(f"model {model!r} version {version} has no artifact files to pin ({uri})")
    return digest, files


def _evaluation_runs(client: Any, mv: Any, model_uri: str) -> list[RunFacts]:
    found: dict[str, RunFacts] = {}
    experiments = [e.experiment_id for e in _all_pages(lambda t: client.search_experiments(page_token=t))]
    tagged = f"tags.`{EVALUATES_TAG}` = {_quote(model_uri)}"
    for i in range(0, len(experiments), 100):
        chunk = experiments[i : i + 100]
        for run in _all_pages(lambda t, c=chunk: client.search_runs(c, filter_string=tagged, page_token=t)):
            found[run.info.run_id] = _run_facts(run, linked_by=f"tag {EVALUATES_TAG}")
    model_id = getattr(mv, "model_id", None) or _logged_model_id(mv.source)
    if model_id:
        logged = client.get_logged_model(model_id)
        producers = {logged.source_run_id, mv.run_id}
        for run_id in sorted({m.run_id for m in logged.metrics or [] if m.run_id} - producers - set(found)):
            found[run_id] = _run_facts(client.get_run(run_id), linked_by=f"metrics logged against model {model_id}")
    return sorted(found.values(), key=lambda r: (r.end_ms or r.start_ms or 0, r.run_id))


def _logged_model_id(source: str) -> str | None:
    m = _LOGGED_MODEL_SOURCE.match(source or "")
    return m.group(1) if m else None


def _run_facts(run: Any, *, linked_by: str = "") -> RunFacts:
    inputs = getattr(run, "inputs", None)
    datasets = tuple((d.dataset.name, d.dataset.digest) for d in (inputs.dataset_inputs if inputs else []))
    return RunFacts(
        run_id=run.info.run_id, name=run.info.run_name or "", experiment_id=str(run.info.experiment_id),
        status=run.info.status, start_ms=run.info.start_time, end_ms=run.info.end_time,
        metrics=dict(run.data.metrics), tags=dict(run.data.tags), datasets=datasets, linked_by=linked_by,
    )


def _all_pages(fetch: Callable[[str | None], Any]) -> list[Any]:
    out: list[Any] = []
    token: str | None = None
    while True:
        page = fetch(token)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def _quote(value: str) -> str:
    """A string literal of MLflow's search syntax."""
    quote = "'" if "'" not in value else '"'
    if quote in value:
        raise InputError(f"{value!r}: a name holding both quote characters cannot be searched for in MLflow")
    return f"{quote}{value}{quote}"
