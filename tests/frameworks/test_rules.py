"""Evidence rules as the coverage engine will read them: leaves, filters, combinators."""

from __future__ import annotations

from controls.graph import ControlGraph
from frameworks.schema import EvidenceRequirement, evaluate_rule


def test_leaf_matches_kind_and_every_filter() -> None:
    leaf = EvidenceRequirement(kind="evaluation", filters={"suite": "fairness", "passed": True})
    assert leaf.matches({"kind": "evaluation", "suite": "fairness", "passed": True, "model_version": "1"})
    assert not leaf.matches({"kind": "evaluation", "suite": "fairness", "passed": False})
    assert not leaf.matches({"kind": "evaluation", "suite": "robustness", "passed": True})
    assert not leaf.matches({"kind": "document", "suite": "fairness", "passed": True})


def test_explicit_leaf_needs_the_record_to_name_the_control() -> None:
    leaf = EvidenceRequirement(kind="document", filters={"doc_type": "policy"}, explicit=True)
    policy = {"kind": "document", "doc_type": "policy", "controls": ["GOV-01"]}
    assert leaf.matches(policy, control_id="GOV-01")
    assert not leaf.matches(policy, control_id="GOV-02")
    assert not leaf.matches(policy | {"controls": []}, control_id="GOV-01")


def test_model_version_binding_defaults_to_evaluations_only() -> None:
    assert EvidenceRequirement(kind="evaluation").binds_model_version
    assert not EvidenceRequirement(kind="evaluation", bound_to_model_version=False).binds_model_version
    assert not EvidenceRequirement(kind="document").binds_model_version
    assert EvidenceRequirement(kind="document", bound_to_model_version=True).binds_model_version


def test_combinators_over_the_catalog(graph: ControlGraph) -> None:
    treat = graph.control("RISK-TREAT-01")  # all_of: risk_assessment + approval
    assert [leaf.kind for leaf in treat.evidence_leaves()] == ["risk_assessment", "approval"]
    assert not evaluate_rule(treat.evidence, lambda leaf: leaf.kind == "risk_assessment")
    assert evaluate_rule(treat.evidence, lambda leaf: True)
    explain = graph.control("EVAL-EXPLAIN-01")  # any_of: evaluation or model card
    assert evaluate_rule(explain.evidence, lambda leaf: leaf.kind == "document")
    assert not evaluate_rule(explain.evidence, lambda leaf: leaf.kind == "approval")
