"""Which catalog controls apply to a system by its facts (issue 12, control catalog): remote
biometric identification controls only for systems that do it, the Art 6(3) registration control
only where the derogation is claimed; an unstated fact keeps a control in scope."""

from __future__ import annotations

import datetime as dt
import itertools
from datetime import date
from typing import Any

import pytest

from controls import service
from controls.approvals import load_policy
from controls.graph import ControlGraph, load_graph
from frameworks import vocab
from frameworks.applicability import applies
from frameworks.schema import AppliesTo
from ledger.store import Ledger
from tests.conftest import T0, docs, model_version_record, system_record

D = dt.timedelta(days=1)
NOW = T0 + D
RBI_CONTROLS = {"EU-RBI-01", "EU-RBI-02"}


def _register(ledger: Ledger, keys, system: str, **over: Any) -> None:
    ledger.append(docs(system_record(system, **over)), signing_key=keys.admin, now=T0)
    ledger.append(docs(model_version_record(system)), signing_key=keys.pipeline, now=T0)


def _controls(ledger: Ledger, graph: ControlGraph, system: str) -> dict[str, Any]:
    return service.coverage(ledger.engine, system, graph=graph, policy=load_policy(), as_of=NOW).controls


RBI_CASES = [({"remote_biometric_identification": False}, False),
             ({"remote_biometric_identification": True}, True),
             ({}, True),  # unstated: it may do it, so the controls stay in scope
             ({"annex_iii_area": "1a"}, True),  # Annex III point 1(a) implies it
             ({"annex_iii_area": "5b", "remote_biometric_identification": False}, False)]


@pytest.mark.parametrize(("facts", "in_scope"), RBI_CASES, ids=["false", "true", "unstated", "1a", "5b-false"])
def test_rbi_controls_apply_only_to_systems_that_may_do_it(ledger: Ledger, keys, graph, facts, in_scope) -> None:
    _register(ledger, keys, "face-match", eu_role=["provider", "deployer"], facts=facts)
    controls = _controls(ledger, graph, "face-match")
    if in_scope:
        assert RBI_CONTROLS <= controls.keys()
    else:
        assert controls.keys().isdisjoint(RBI_CONTROLS)
        assert {"HO-DESIGN-01", "OPS-LOG-01", "EU-DEPLOY-01"} <= controls.keys()  # the general ones stay


@pytest.mark.parametrize(("facts", "in_scope"), [({"annex_iii_derogation": True}, True), ({}, True),
                                                 ({"annex_iii_derogation": False}, False)],
                         ids=["claimed", "unstated", "not-claimed"])
def test_the_art_6_3_registration_control_needs_the_self_assessment(ledger: Ledger, keys, graph, facts,
                                                                   in_scope) -> None:
    _register(ledger, keys, "triage", eu_class="minimal", risk_tier="medium", facts=facts)
    assert ("EU-REG-02" in _controls(ledger, graph, "triage")) is in_scope
    if not in_scope:
        return
    doc = {"kind": "document", "system": "triage", "observed_at": "2026-11-01T10:00:00Z"}
    ledger.append(docs(doc | {"doc_type": "eu_registration", "title": "EU database entry"}),
                  signing_key=keys.pipeline, now=NOW)
    result = _controls(ledger, graph, "triage")["EU-REG-02"]
    assert result.status == "partial" and "doc_type=art6_3_assessment" in result.reason
    ledger.append(docs(doc | {"doc_type": "art6_3_assessment", "title": "Art 6(3) assessment"}),
                  signing_key=keys.pipeline, now=NOW)
    assert _controls(ledger, graph, "triage")["EU-REG-02"].status == "covered"


def test_a_high_risk_system_registers_under_eu_reg_01_only(ledger: Ledger, graph) -> None:
    controls = _controls(ledger, graph, "credit-scoring")
    assert "EU-REG-01" in controls and "EU-REG-02" not in controls


@pytest.mark.parametrize(("wanted", "facts", "expected"), [
    ({"remote_biometric_identification": True}, {}, True),
    ({"remote_biometric_identification": True}, {"remote_biometric_identification": None}, True),
    ({"remote_biometric_identification": True}, {"remote_biometric_identification": False}, False),
    ({"remote_biometric_identification": False}, {"annex_iii_area": "1a"}, False),
    ({"annex_iii_area": ["5"]}, {"annex_iii_area": "5b"}, True),
    ({"annex_iii_area": ["5a", "2"]}, {"annex_iii_area": "5b"}, False),
    ({"annex_iii_area": ["5a"]}, {}, True),
], ids=["unstated", "none", "false", "implied", "point", "other-point", "point-unstated"])
def test_applies_to_facts(wanted, facts, expected) -> None:
    assert AppliesTo(facts=wanted).matches(facts=facts) is expected
    assert AppliesTo(facts=wanted).matches() is True  # no facts known at all: in scope


@pytest.mark.parametrize(("facts", "message"), [
    ({"remote_biometrics": True}, "unknown fact 'remote_biometrics'"),
    ({"deep_fake": "yes"}, "deep_fake is true or false"),
    ({"annex_iii_area": ["9z"]}, "9z"),
    ({"annex_iii_area": []}, "non-empty list"),
])
def test_applies_to_facts_are_checked(facts, message) -> None:
    with pytest.raises(ValueError, match=message):
        AppliesTo(facts=facts)


FACTS_USED = sorted({f for c in load_graph().controls() for f in c.applies_to.facts})


def test_every_requirement_binding_a_system_with_stated_facts_has_a_control_for_it(graph: ControlGraph) -> None:
    """The catalog-wide invariant of test_graph, with the facts controls are scoped by stated either way."""
    assert FACTS_USED  # the catalog does scope controls by facts
    gaps = []
    for tier, role, eu_class in itertools.product(vocab.RISK_TIERS, vocab.EU_ROLES, vocab.EU_CLASSES):
        for values in itertools.product((True, False), repeat=len(FACTS_USED)):
            facts = dict(zip(FACTS_USED, values, strict=True))
            gaps += [(tier, role, eu_class, facts, r.node_id)
                     for r in graph.requirements(assessable_only=True)
                     if applies(r, eu_class=eu_class, eu_role=role, as_of=date(2031, 1, 1), facts=facts)
                     and not graph.controls_for(r.node_id, risk_tier=tier, eu_role=role, eu_class=eu_class,
                                                facts=facts)]
    assert gaps == []
