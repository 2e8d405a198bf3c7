"""Conformity and documentation controls name concrete document types with freshness (issue 12,
control catalog), and records signed with the older document types still parse."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

import pytest

from controls import service
from controls.approvals import load_policy
from controls.graph import ControlGraph
from ledger.records import DocType, parse_record
from ledger.store import Ledger
from tests.conftest import T0, docs, model_version_record

D = dt.timedelta(days=1)
NOW = T0 + D
SYSTEM = "credit-scoring"  # high-risk (Annex III), provider: the conftest ledger's system


def document(doc_type: str, **over: Any) -> dict[str, Any]:
    return {"kind": "document", "system": SYSTEM, "observed_at": "2026-11-01T10:00:00Z", "doc_type": doc_type,
            "title": doc_type.replace("_", " "), "model_version": "2.1.0"} | over


def control(ledger: Ledger, graph: ControlGraph, control_id: str, when: dt.datetime):
    return service.coverage(ledger.engine, SYSTEM, graph=graph, policy=load_policy(), as_of=when).controls[control_id]


def test_conformity_is_covered_by_assessment_and_declaration_of_the_current_version(ledger: Ledger, keys,
                                                                                   graph) -> None:
    ledger.append(docs(document("conformity_assessment")), signing_key=keys.pipeline, now=NOW)
    assert control(ledger, graph, "EU-CONF-01", NOW).status == "partial"  # no declaration, no sign-off yet
    declaration = ledger.append(docs(document("eu_declaration")), signing_key=keys.pipeline, now=NOW)[0]
    ledger.append(docs({"kind": "approval", "system": SYSTEM, "observed_at": "2026-11-01T11:00:00Z",
                        "target": declaration.entry_hash, "decision": "approve", "controls": ["EU-CONF-01"]}),
                  signing_key=keys.approver, now=NOW)
    assert control(ledger, graph, "EU-CONF-01", NOW).status == "covered"

    # Four years on, with no new assessment, it is stale (the declaration itself has no maximum age).
    observed = dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    assert control(ledger, graph, "EU-CONF-01", observed + 1461 * D).status == "covered"
    stale = control(ledger, graph, "EU-CONF-01", observed + 1461 * D + dt.timedelta(seconds=1))
    assert stale.status == "partial" and "doc_type=conformity_assessment is older than 1461 days" in stale.reason

    # A new model version needs its own assessment and declaration (Art 43(4), 47(4)).
    ledger.append(docs(model_version_record(version="2.2.0", observed_at="2026-11-02T09:00:00Z")),
                  signing_key=keys.pipeline, now=NOW + D)
    moved_on = control(ledger, graph, "EU-CONF-01", NOW + D)
    assert moved_on.status == "partial" and "only for model version 2.1.0, not 2.2.0" in moved_on.reason


@pytest.mark.parametrize(("control_id", "doc_type", "org_wide"), [
    ("DOC-TECHDOC-01", "technical_documentation", False),
    ("DOC-IFU-01", "instructions_for_use", False),
    ("EU-PMM-01", "post_market_monitoring_plan", False),
    ("EU-QMS-01", "qms_procedure", True),
])
def test_documentation_controls_name_their_document_type(ledger: Ledger, keys, graph, control_id, doc_type,
                                                         org_wide) -> None:
    assert control(ledger, graph, control_id, NOW).status == "missing"
    ledger.append(docs(document("other", controls=[control_id])), signing_key=keys.pipeline, now=NOW)
    assert control(ledger, graph, control_id, NOW).status == "missing"  # a generic document no longer counts
    record = document(doc_type) | ({"system": "*"} if org_wide else {})
    if org_wide:
        del record["model_version"]
    ledger.append(docs(record), signing_key=keys.pipeline if not org_wide else keys.admin, now=NOW)
    assert control(ledger, graph, control_id, NOW).status == "covered"


def test_the_fria_control_takes_a_fria_document(graph: ControlGraph) -> None:
    leaves = graph.control("EU-FRIA-01").evidence_leaves()
    assert {"doc_type": "fria"} in [leaf.filters for leaf in leaves]


def test_records_with_every_older_document_type_still_parse() -> None:
    for doc_type in ("model_card", "data_sheet", "dpia", "monitoring_plan", "release_checklist", "policy", "other"):
        assert parse_record(document(doc_type)).doc_type == doc_type
    assert {"fria", "conformity_assessment", "eu_declaration", "technical_documentation", "instructions_for_use",
            "qms_procedure", "post_market_monitoring_plan", "art6_3_assessment"} <= set(typing.get_args(DocType))


def test_few_rules_fall_back_to_a_generic_document(graph: ControlGraph) -> None:
    generic = [c.id for c in graph.controls() for leaf in c.evidence_leaves()
               if leaf.kind == "document" and leaf.filters.get("doc_type") == "other"]
    assert len(generic) <= 7, generic  # 23 in catalog 2026.1
