"""``assure ingest mlflow``: a registered model version and its evaluation runs, as signed records.

One ``model_version`` record (``version`` is ``NAME/VERSION``, the artifact
digest of :func:`interop.mlflow_registry.artifact_digest`, the git commit from
the source run's ``mlflow.source.git.commit`` tag, its input datasets) and one
``evaluation`` record per finished evaluation run (its metrics, the bounds of
the thresholds file that apply to its suite, ``passed`` computed from them)
are appended through :meth:`ledger.store.Ledger.append`, with the same rules
and errors as ``assure append``.

Every field comes from MLflow (times are MLflow's, never the clock), so the
same registry gives the same records, the same signed bytes and the same
idempotency keys: running it again appends nothing. A model version the
ledger holds already is not appended again; one it holds with another
artifact digest is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from interop.mlflow_registry import RegistryRead, RunFacts, read_registry
from interop.mlflow_thresholds import Thresholds
from ledger.errors import InputError
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.record_rules import threshold_breach
from ledger.store import Appended, Ledger
from ledger.timeutil import format_timestamp

GIT_COMMIT_TAG = "mlflow.source.git.commit"
SUITE_TAG = "assure.suite"
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


@dataclass
class Planned:
    """One record ingest would append, or found in the ledger already."""

    source: str
    record: dict[str, Any]
    existing_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (``--json``)."""
        return {"source": self.source, "already_in_ledger": self.existing_seq, "record": self.record}


@dataclass
class IngestResult:
    """What an ingest read, and what it appended (nothing with ``dry_run``)."""

    system: str
    model_version: str
    planned: list[Planned]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(run id, why) of evaluation runs left out."""
    appended: list[Appended] = field(default_factory=list)
    dry_run: bool = False

    @property
    def new(self) -> list[Planned]:
        """The records not in the ledger yet."""
        return [p for p in self.planned if p.existing_seq is None]

    def to_json(self) -> dict[str, Any]:
        """JSON form (``assure ingest mlflow --json``)."""
        return {
            "system": self.system,
            "model_version": self.model_version,
            "dry_run": self.dry_run,
            "records": [p.to_json() for p in self.planned],
            "skipped_runs": [{"run_id": r, "reason": why} for r, why in self.skipped],
            "appended": [{"seq": a.seq, "entry_hash": a.entry_hash, "kind": a.kind, "source": a.source}
                         for a in self.appended],
        }


def ingest_mlflow(
    ledger: Ledger,
    *,
    tracking_uri: str,
    model: str,
    system: str,
    key: PrivateKey,
    version: str | None = None,
    alias: str | None = None,
    thresholds: Thresholds | None = None,
    dry_run: bool = False,
) -> IngestResult:
    """Read a model version and its evaluation runs from MLflow and append what the ledger lacks.

    Args:
        ledger: the ledger to append to.
        tracking_uri: MLflow tracking (and registry) URI.
        model: registered model name.
        system: the Assure system the model version belongs to.
        key: signs the records (a pipeline, approver or admin key of the ledger).
        version: the version number; ``alias``: an alias; neither: the newest version.
        thresholds: bounds the evaluation runs must meet.
        dry_run: check everything as append would, write nothing.

    Raises:
        NotFoundError: no such model, version or alias in MLflow.
        InputError: MLflow missing or unreachable, an unregistered system, a
            record append refuses, or the ledger holding the version with
            another artifact digest (nothing written).
    """
    read = read_registry(tracking_uri, model, version=version, alias=alias)
    result = plan_records(read, system=system, thresholds=thresholds or Thresholds())
    result.dry_run = dry_run
    _require_system(ledger, system)
    _mark_registered_version(ledger, result)
    todo = [p for p in result.planned if p.existing_seq is None]
    if todo:
        prepared = ledger.prepare([Document(p.source, p.record) for p in todo], signing_key=key)
        seqs = ledger.appended_seqs([item.idem_key for item in prepared])
        for planned, item in zip(todo, prepared, strict=True):
            planned.existing_seq = seqs.get(item.idem_key)
    if result.new and not dry_run:
        result.appended = ledger.append([Document(p.source, p.record) for p in result.new], signing_key=key)
    return result


def plan_records(read: RegistryRead, *, system: str, thresholds: Thresholds) -> IngestResult:
    """The records for a registry read (pure: no ledger, no MLflow).

    Raises:
        InputError: a name MLflow allows that an Assure field does not.
    """
    mv = read.model_version
    label = f"{mv.name}/{mv.version}"
    if not _IDENT.match(label):
        raise InputError(f"{label!r} cannot be a model version id (letters, digits and ._:/@+- only, at most "
                         "128 characters): rename the registered model", field="--model")
    run = mv.source_run
    record: dict[str, Any] = {
        "kind": "model_version",
        "system": system,
        "observed_at": _time(mv.created_ms),
        "version": label,
        "artifact_sha256": mv.artifact_sha256,
        "notes": f"MLflow {mv.model_uri} (source {mv.source}"
                 + (f", run {run.run_id}" if run else "")
                 + f"); artifact_sha256 is over the sha256sum lines of its {mv.artifact_files} artifact file(s)",
    }
    if run and run.tags.get(GIT_COMMIT_TAG):
        record["commit"] = run.tags[GIT_COMMIT_TAG]
    if run and run.datasets:
        record["datasets"] = _dataset_refs(run)
    planned = [Planned(f"mlflow {mv.model_uri}", record)]
    skipped = []
    for ev in read.evaluations:
        if ev.status != "FINISHED":
            skipped.append((ev.run_id, f"status {ev.status}: only finished runs are ingested"))
            continue
        planned.append(Planned(f"mlflow run {ev.run_id}", _evaluation(ev, system, label, thresholds)))
    return IngestResult(system, label, planned, skipped)


def _evaluation(run: RunFacts, system: str, label: str, thresholds: Thresholds) -> dict[str, Any]:
    source = f"mlflow run {run.run_id}"
    suite = run.tags.get(SUITE_TAG) or run.name
    if not _IDENT.match(suite or ""):
        raise InputError(f"suite {suite!r} (the run's {SUITE_TAG} tag, else its name) is not an id: set the "
                         f"{SUITE_TAG} tag to one such as 'fairness' or 'performance'", source=source,
                         field=SUITE_TAG)
    metrics = {k: v for k, v in sorted(run.metrics.items()) if math.isfinite(v)}
    notes = [f"MLflow run {run.run_id} ({run.name}) in experiment {run.experiment_id}, found by {run.linked_by}."]
    if dropped := sorted(set(run.metrics) - set(metrics)):
        notes.append(f"Not finite, left out: {', '.join(dropped)}.")
    bounds = thresholds.for_suite(suite)
    applied = {k: b for k, b in sorted(bounds.items()) if k in metrics}
    missing = sorted(set(bounds) - set(metrics))
    breaches = [f"{k} {why}" for k, b in applied.items() if (why := threshold_breach(metrics[k], b))]
    if missing:
        notes.append(f"Failed: thresholds name metrics the run did not log: {', '.join(missing)}.")
    if breaches:
        notes.append("Failed: " + "; ".join(breaches) + ".")
    if not bounds:
        notes.append(f"Failed: no threshold applies to suite {suite!r} (give --thresholds).")
    record: dict[str, Any] = {
        "kind": "evaluation",
        "system": system,
        "observed_at": _time(run.end_ms or run.start_ms or 0),
        "model_version": label,
        "suite": suite,
        "metrics": metrics,
        "thresholds": applied,
        "passed": bool(bounds) and not missing and not breaches,
        "notes": " ".join(notes),
    }
    if run.datasets:
        record["datasets"] = _dataset_refs(run)
    return record


def _dataset_refs(run: RunFacts) -> list[str]:
    """``name@digest`` of each input dataset, characters an id may not hold replaced by ``-``."""
    refs: list[str] = []
    for name, digest in run.datasets:
        ref = re.sub(r"[^A-Za-z0-9._:/@+-]+", "-", f"{name}@{digest}").lstrip("._:/@+-")[:128]
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def _time(ms: int) -> str:
    return format_timestamp(dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC))


def _require_system(ledger: Ledger, system: str) -> None:
    if not any(True for _ in ledger.iter_records(kind="system", system=system, limit=1)):
        raise InputError(f"system {system!r} is not registered: append a 'system' record for it first",
                         field="--system")


def _mark_registered_version(ledger: Ledger, result: IngestResult) -> None:
    """Mark the model version as present if the ledger registered it already (refuse another digest)."""
    planned = result.planned[0]
    for row in ledger.iter_records(kind="model_version", system=result.system):
        if row["model_version"] != result.model_version:
            continue
        payload = ledger.get(row["seq"]).payload
        held = json.loads(payload)["artifact_sha256"] if payload is not None else None
        if held != planned.record["artifact_sha256"]:
            raise InputError(
                f"the ledger holds model version {result.model_version} (entry {row['seq']}) with artifact "
                f"digest {held}, but its MLflow artifacts hash to {planned.record['artifact_sha256']}",
                source=planned.source, field="artifact_sha256")
        planned.existing_seq = row["seq"]
        return
