"""The thresholds file of ``assure ingest mlflow``: which bounds each evaluation run must meet.

The file is YAML (or JSON)::

    metrics:              # every evaluation run that logged the metric
      auc: {min: 0.78}
    suites:               # only runs of that suite (a run's ``assure.suite`` tag)
      robustness:
        accuracy_drop_under_noise: {max: 0.05}

A suite's bound replaces the ``metrics`` bound of the same metric. A bound that
applies to a run which did not log its metric fails that run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ledger.errors import InputError
from ledger.ingest import read_documents
from ledger.records import Ident, MetricName, Number


class _Bound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _meaningful(self) -> _Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min!r} is above max {self.max!r}")
        return self


_UNION_TAGS = frozenset({"float", "int", "str", "bool"})  # pydantic's union members, not fields
_Bounds = Annotated[dict[MetricName, _Bound], Field(max_length=500)]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    metrics: _Bounds = Field(default_factory=dict)
    suites: Annotated[dict[Ident, _Bounds], Field(max_length=200)] = Field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Bounds per metric, for every run and per suite."""

    metrics: dict[str, dict[str, float | int]] = field(default_factory=dict)
    suites: dict[str, dict[str, dict[str, float | int]]] = field(default_factory=dict)

    def for_suite(self, suite: str) -> dict[str, dict[str, float | int]]:
        """The bounds a run of ``suite`` must meet (``{metric: {min, max}}``)."""
        return self.metrics | self.suites.get(suite, {})


def load_thresholds(path: str | Path | None) -> Thresholds:
    """Read a thresholds file; no file means no thresholds.

    Raises:
        InputError: naming the file, the field and the reason.
    """
    if path is None:
        return Thresholds()
    label = str(path)
    docs = read_documents(label)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise InputError("a thresholds file is one mapping with 'metrics' and/or 'suites'", source=label)
    try:
        parsed = _File.model_validate(docs[0].data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if str(p) not in _UNION_TAGS and not str(p).startswith("function-"))
        reason = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown field (a thresholds file has 'metrics' and 'suites')"
        raise InputError(reason, source=label, field=where or None) from e
    return Thresholds(
        metrics={k: _plain(b) for k, b in parsed.metrics.items()},
        suites={s: {k: _plain(b) for k, b in bounds.items()} for s, bounds in parsed.suites.items()},
    )


def _plain(bound: _Bound) -> dict[str, Any]:
    return bound.model_dump(exclude_none=True)
