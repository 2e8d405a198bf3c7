"""A release that the gate blocks, and the people who would like it to pass.

Each test in this folder plays one actor of docs/threat-model.md trying, the way
they would, to turn the blocked release of credit-scoring 2.1.0 into a PASS or
to hide a record, and shows that the attempt is refused or changes nothing.
The gate runs on a tiny catalog (one evaluation control, the incident control,
an organisation-level policy control) so its verdict turns on the attack alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controls import service
from controls.approvals import load_policy
from controls.gate import GateVerdict
from controls.graph import ControlGraph, load_graph
from ledger.append import Appended
from ledger.keys import PrivateKey
from ledger.store import Ledger, trust_key
from tests.conftest import T0, docs, eval_record, fixed_key

H = dt.timedelta(hours=1)
SYSTEM = "credit-scoring"
APPROVER3 = fixed_key("approver3")

CATALOG = {
    "format": "assure-controls/1",
    "catalog": {"id": "assure-default", "name": "Catalog of the threat tests", "version": "1"},
    "controls": [
        {"id": "EVAL-FAIR-01", "title": "Fairness evaluation", "description": "A passing fairness run.",
         "owner": "RAI", "satisfies": ["nist-ai-rmf:MEASURE-2.11"],
         "evidence": {"kind": "evaluation", "filters": {"suite": "fairness", "passed": True}}},
        {"id": "OPS-INCIDENT-01", "title": "Incident management", "description": "Incidents are handled.",
         "owner": "SRE", "satisfies": ["nist-ai-rmf:MANAGE-4.3"], "organisation_level": True,
         "open_incidents_fail": ["high", "critical"],
         "evidence": {"kind": "document", "filters": {"doc_type": "policy"}, "explicit": True}},
        {"id": "GOV-01", "title": "AI policy", "description": "An approved AI policy.", "owner": "CRO",
         "satisfies": ["nist-ai-rmf:GOVERN-1.2"], "organisation_level": True,
         "evidence": {"kind": "document", "filters": {"doc_type": "policy"}, "explicit": True}},
        {"id": "EVAL-INDEP-01", "title": "Independent review", "description": "Someone else reviewed it.",
         "owner": "RAI", "satisfies": ["nist-ai-rmf:MEASURE-1.3"],
         "evidence": {"kind": "approval", "filters": {"decision": "approve"}, "explicit": True}},
    ],
}


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Release:
    """credit-scoring 2.1.0 (high risk, Annex III) with a passing fairness run, not yet approved."""

    ledger: Ledger
    keys: Any
    graph: ControlGraph
    model_version: Appended
    clock: dt.datetime

    def put(self, key: PrivateKey, *records: dict[str, Any], at: dt.datetime | None = None) -> list[Appended]:
        """Append as ``key`` an hour after the previous append (the ledger's clock goes forward)."""
        self.clock = at or self.clock + H
        return self.ledger.append(docs(*records), signing_key=key, now=self.clock)

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """A record of ``kind`` for credit-scoring, observed now."""
        return {"kind": kind, "system": SYSTEM, "observed_at": iso(self.clock)} | fields

    def approval(self, target: Appended | str, decision: str = "approve") -> dict[str, Any]:
        return self.record("approval", target=getattr(target, "entry_hash", target), decision=decision)

    def approve_release(self, *keys: PrivateKey) -> None:
        for key in keys:
            self.put(key, self.approval(self.model_version))

    def gate(self) -> GateVerdict:
        verdict, _ = service.release_gate(self.ledger.engine, SYSTEM, model_version="2.1.0", graph=self.graph,
                                          policy=load_policy(), as_of=self.clock + H)
        return verdict

    def view(self) -> Any:
        return service.system_view(self.ledger.engine, SYSTEM, as_of=self.clock + H, policy=load_policy())


@pytest.fixture
def graph(tmp_path: Path) -> ControlGraph:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "controls.yaml").write_text(yaml.safe_dump(CATALOG))
    return load_graph(user_dir=folder)


@pytest.fixture
def release(ledger: Ledger, keys, graph: ControlGraph) -> Release:
    trust_key(ledger, keys.admin, APPROVER3.public, role="approver", owner="Compliance", now=T0)
    (mv,) = [r for r in ledger.iter_records(kind="model_version")]
    # Two days on, so records observed at the fixtures' default times are in the past.
    rel = Release(ledger, keys, graph, _appended(ledger, mv["seq"]), T0 + 48 * H)
    rel.put(keys.pipeline, eval_record())
    return rel


def _appended(ledger: Ledger, seq: int) -> Appended:
    e = ledger.get(seq)
    return Appended(seq, e.entry_hash.hex(), e.leaf, e.parsed_leaf.kind, SYSTEM, "fixture")


Refused = Callable[..., None]
