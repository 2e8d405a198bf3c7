"""Governance KPIs on a small ledger whose answers can be counted by hand."""

from __future__ import annotations

import datetime as dt

from controls import service
from controls.approvals import load_policy
from controls.graph import load_graph
from tests.conftest import system_record
from tests.controls.test_coverage import (
    T0,
    D,
    approve,
    evaluation,
    exception_record,
    iso,
    model_version,
    put,
)


def test_kpis_count_what_the_ledger_holds(ledger, keys) -> None:
    graph, policy = load_graph(user_dir=None), load_policy()
    put(ledger, keys.admin, T0, system_record("chatbot", risk_tier="medium", eu_class="limited", eu_role="deployer"))
    mv = put(ledger, keys.pipeline, T0 + D, model_version("1.0", T0 + D))[0]
    put(ledger, keys.pipeline, T0 + 2 * D, evaluation("fairness", "1.0", T0 + 2 * D),
        {"kind": "document", "system": "credit-scoring", "observed_at": iso(T0 + 2 * D), "doc_type": "model_card",
         "title": "card", "model_version": "1.0"})
    # Release approved by two distinct approvers, 24 h and 48 h after the version was built.
    put(ledger, keys.approver, T0 + 2 * D, approve(mv.entry_hash, T0 + 2 * D))
    put(ledger, keys.approver2, T0 + 3 * D, approve(mv.entry_hash, T0 + 3 * D))
    exc = put(ledger, keys.admin, T0 + 3 * D, exception_record(T0 + 3 * D, T0 + 20 * D))[0]
    put(ledger, keys.approver, T0 + 4 * D, approve(exc.entry_hash, T0 + 4 * D))
    put(ledger, keys.approver2, T0 + 4 * D + dt.timedelta(hours=1), approve(exc.entry_hash, T0 + 4 * D + dt.timedelta(hours=1)))

    k = service.kpis(ledger.engine, graph=graph, policy=policy, frameworks=None, as_of=T0 + 5 * D,
                     expiring_window=dt.timedelta(days=30))
    assert k["systems"] == 2
    assert k["documentation_coverage"] == {"value": 100.0, "numerator": 1, "denominator": 1}
    # Evidence records: two model versions, an evaluation and a document by the pipeline; 4 approvals and
    # 1 exception by people.
    assert k["control_automation_ratio"] == {"value": 44.4, "numerator": 4, "denominator": 9}
    assert k["median_hours_model_version_to_release_approval"] == 48.0
    assert k["exceptions"]["active"] == 1 and k["exceptions"]["expiring_within_days"]["count"] == 1
    assert k["exception_rate"]["numerator"] == 1
    # fairness (passed), robustness (excepted), explainability (its any_of accepts the model card)
    assert k["evaluation_coverage_by_tier"]["high"]["numerator"] == 3
    assert k["evaluation_coverage_by_tier"]["low"]["value"] is None
    assert k["gate_pass_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert set(k["evidence_coverage"]) == {"credit-scoring", "chatbot"}
