"""EU AI Act applicability decided from data: role, class, date, condition facts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from controls.graph import ControlGraph
from frameworks import vocab
from frameworks.applicability import applies, assess, normalise_facts, start_date
from frameworks.schema import Applicability, AppliesTo

DAY = timedelta(days=1)


def _applies(graph: ControlGraph, ref: str, **system: object) -> bool:
    params = {"eu_class": "high_risk_annex_iii", "eu_role": "provider", "as_of": date(2030, 1, 1)}
    params |= system
    return applies(graph.requirement(ref), **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("eu_class", "first_day"),
    [("high_risk_annex_iii", date(2027, 12, 2)), ("high_risk_annex_i", date(2028, 8, 2))],
)
def test_art_9_starts_on_the_amended_date_per_annex(graph: ControlGraph, eu_class: str, first_day: date) -> None:
    for ref in ("eu-ai-act:Art-9.1", "eu-ai-act:Art-9.2", "eu-ai-act:Art-16.a", "eu-ai-act:Art-11.1"):
        assert not _applies(graph, ref, eu_class=eu_class, as_of=first_day - DAY), ref
        assert _applies(graph, ref, eu_class=eu_class, as_of=first_day), ref


def test_original_2024_dates_are_kept_beside_the_amended_ones(graph: ControlGraph) -> None:
    rule = graph.requirement("eu-ai-act:Art-9.2").applicability
    assert rule is not None
    assert start_date(rule, eu_class="high_risk_annex_iii", law="original") == date(2026, 8, 2)
    assert start_date(rule, eu_class="high_risk_annex_i", law="original") == date(2027, 8, 2)
    assert _applies(graph, "eu-ai-act:Art-9.2", as_of=date(2026, 9, 1), law="original")
    assert not _applies(graph, "eu-ai-act:Art-9.2", as_of=date(2026, 9, 1))


def test_limited_risk_system_gets_art_50_not_high_risk_duties(graph: ControlGraph) -> None:
    limited = {"eu_class": "limited", "eu_role": "provider"}
    assert not _applies(graph, "eu-ai-act:Art-9.1", **limited)
    assert not _applies(graph, "eu-ai-act:Art-16.f", **limited)
    assert not _applies(graph, "eu-ai-act:Art-50.1", **limited, as_of=date(2026, 8, 1))
    assert _applies(graph, "eu-ai-act:Art-50.1", **limited, as_of=date(2026, 8, 2))


@pytest.mark.parametrize("eu_class", ["minimal", "limited", "high_risk_annex_i", "high_risk_annex_iii", "gpai"])
def test_art_50_follows_the_system_not_its_risk_class(graph: ControlGraph, eu_class: str) -> None:
    # Art 50(1): "Providers shall ensure that AI systems intended to interact directly
    # with natural persons ..." whatever their class; Art 50(6): without prejudice to
    # Chapter III, so a high-risk system is held to both.
    chatbot = {"eu_class": eu_class, "eu_role": "provider"}
    assert _applies(graph, "eu-ai-act:Art-50.1", **chatbot, facts={"interacts_with_persons"})
    assert not _applies(graph, "eu-ai-act:Art-50.1", **chatbot, facts=set())
    assert not _applies(graph, "eu-ai-act:Art-50.1", eu_class="prohibited", eu_role="provider")


def test_deployer_obligations_bind_deployers_not_providers(graph: ControlGraph) -> None:
    for ref in ("eu-ai-act:Art-26.1", "eu-ai-act:Art-26.2", "eu-ai-act:Art-26.5"):
        assert _applies(graph, ref, eu_role="deployer"), ref
        assert not _applies(graph, ref, eu_role="provider"), ref
    assert _applies(graph, "eu-ai-act:Art-9.1", eu_role="provider")
    assert not _applies(graph, "eu-ai-act:Art-9.1", eu_role="deployer")


def test_role_none_is_outside_the_act_but_nist_still_applies(graph: ControlGraph) -> None:
    eu = graph.requirements("eu-ai-act", assessable_only=True)
    assert not any(applies(r, eu_class="minimal", eu_role="none", as_of=date(2030, 1, 1)) for r in eu)
    assert _applies(graph, "nist-ai-rmf:GOVERN-1.1", eu_class="minimal", eu_role="none")
    assert not _applies(graph, "nist-ai-rmf:GOVERN-1", eu_class="minimal", eu_role="none")  # grouping


def test_prohibitions_and_literacy_bind_every_operator_of_any_class(graph: ControlGraph) -> None:
    for eu_class in ("minimal", "limited", "gpai", "high_risk_annex_i"):
        for role in ("provider", "deployer"):
            assert _applies(graph, "eu-ai-act:Art-5.1", eu_class=eu_class, eu_role=role)
            assert _applies(graph, "eu-ai-act:Art-4.1", eu_class=eu_class, eu_role=role)
    assert not _applies(graph, "eu-ai-act:Art-5.1", eu_class="minimal", as_of=date(2025, 2, 1))
    assert _applies(graph, "eu-ai-act:Art-5.1", eu_class="minimal", as_of=date(2025, 2, 2))
    # The new Omnibus prohibitions start later than the original ones.
    assert not _applies(graph, "eu-ai-act:Art-5.1.ba", eu_class="minimal", as_of=date(2026, 12, 1))
    assert _applies(graph, "eu-ai-act:Art-5.1.ba", eu_class="minimal", as_of=date(2026, 12, 2))


def test_replaced_article_4_hands_over_on_the_omnibus_date(graph: ControlGraph) -> None:
    before, after = date(2026, 7, 26), date(2026, 7, 27)
    assert _applies(graph, "eu-ai-act:Art-4.orig", eu_class="minimal", as_of=before)
    assert not _applies(graph, "eu-ai-act:Art-4.orig", eu_class="minimal", as_of=after)
    assert not _applies(graph, "eu-ai-act:Art-4.1", eu_class="minimal", as_of=before)
    assert _applies(graph, "eu-ai-act:Art-4.1", eu_class="minimal", as_of=after)
    # Under the Act as adopted, only the original text exists.
    assert _applies(graph, "eu-ai-act:Art-4.orig", eu_class="minimal", as_of=after, law="original")
    assert not _applies(graph, "eu-ai-act:Art-4.1", eu_class="minimal", as_of=after, law="original")


def test_gpai_duties_by_class_and_transitional_date(graph: ControlGraph) -> None:
    assert _applies(graph, "eu-ai-act:Art-53.1", eu_class="gpai", as_of=date(2025, 8, 2))
    assert not _applies(graph, "eu-ai-act:Art-53.1", eu_class="high_risk_annex_iii")
    assert not _applies(graph, "eu-ai-act:Art-55.1", eu_class="gpai")
    assert _applies(graph, "eu-ai-act:Art-55.1", eu_class="gpai_systemic")
    legacy = {"eu_class": "gpai", "placed_on_market": date(2025, 1, 1)}
    assert not _applies(graph, "eu-ai-act:Art-53.1", **legacy, as_of=date(2027, 8, 1))
    assert _applies(graph, "eu-ai-act:Art-53.1", **legacy, as_of=date(2027, 8, 2))


def test_art_50_2_grace_period_exists_only_in_the_amended_act(graph: ControlGraph) -> None:
    old_system = {"eu_class": "limited", "placed_on_market": date(2026, 1, 1), "as_of": date(2026, 9, 1)}
    assert not _applies(graph, "eu-ai-act:Art-50.2", **old_system)
    assert _applies(graph, "eu-ai-act:Art-50.2", **old_system, law="original")
    assert _applies(graph, "eu-ai-act:Art-50.2", **old_system | {"as_of": date(2026, 12, 2)})
    new_system = old_system | {"placed_on_market": date(2026, 8, 10)}
    assert _applies(graph, "eu-ai-act:Art-50.2", **new_system)


def test_conditional_provisions_follow_declared_facts(graph: ControlGraph) -> None:
    ref = "eu-ai-act:Art-50.2"  # synthetic content marking
    limited = {"eu_class": "limited", "eu_role": "provider"}
    assert _applies(graph, ref, **limited)  # facts unknown: assume it applies
    assert not _applies(graph, ref, **limited, facts=set())
    assert _applies(graph, ref, **limited, facts={"generates_synthetic_content"})
    # Unconditional provisions ignore facts.
    assert _applies(graph, "eu-ai-act:Art-9.1", facts=set())


def test_effective_dates_for_conformity_assessment(graph: ControlGraph) -> None:
    # Formally from 2026-08-02, but it cannot bite before the requirements it assesses.
    assert not _applies(graph, "eu-ai-act:Art-43.2", as_of=date(2026, 9, 1))
    assert _applies(graph, "eu-ai-act:Art-43.2", as_of=date(2027, 12, 2))


def test_non_binding_provisions_never_apply(graph: ControlGraph) -> None:
    for ref in ("eu-ai-act:Art-9.7", "eu-ai-act:Art-15.2", "eu-ai-act:Art-10.5"):
        assert not graph.requirement(ref).assessable
        assert not _applies(graph, ref)


def test_unknown_class_or_role_is_an_error(graph: ControlGraph) -> None:
    with pytest.raises(ValueError, match="unknown eu_class 'high'"):
        _applies(graph, "eu-ai-act:Art-9.1", eu_class="high")
    with pytest.raises(ValueError, match="unknown eu_role 'user'"):
        _applies(graph, "eu-ai-act:Art-9.1", eu_role="user")


# --- assess(): verdicts with reasons -------------------------------------------------

BOOL_FACTS = {n: True for n, f in vocab.FACTS.items() if f.kind == "bool"}
PROFILES = [{**BOOL_FACTS, "annex_iii_area": a} for a in ("1a", "2", "5b", "6a")]


def test_every_binding_provision_can_apply_to_some_system(graph: ControlGraph) -> None:
    """Each operator duty binds some class x role x facts on some day (Art 4 as adopted lapsed 2026-07-27)."""
    never = [
        r.id
        for r in graph.requirements("eu-ai-act", assessable_only=True)
        if not any(
            assess(r, eu_class=c, eu_roles=[role], facts=f, as_of=d).status == "applicable"
            for c in vocab.EU_CLASSES
            for role in vocab.EU_ROLES
            for f in PROFILES
            for d in (date(2026, 7, 1), date(2031, 1, 1))
        )
    ]
    assert never == []


def test_importer_distributor_and_representatives_now_reach_their_articles(graph: ControlGraph) -> None:
    later = date(2029, 1, 1)
    for ref, role in [("Art-23.1", "importer"), ("Art-24.6", "distributor"), ("Art-22.4", "authorised_representative")]:
        v = assess(graph.requirement(f"eu-ai-act:{ref}"), eu_class="high_risk_annex_iii", eu_roles=[role], as_of=later)
        assert v.status == "applicable", (ref, v.reason)
    for ref in ("Art-54.3", "Art-54.5"):
        v = assess(graph.requirement(f"eu-ai-act:{ref}"), eu_class="gpai", eu_roles=["authorised_representative"], as_of=later)
        assert v.status == "applicable", (ref, v.reason)


def test_a_missing_fact_gives_needs_review_never_not_applicable(graph: ControlGraph) -> None:
    checked = 0
    for req in graph.requirements("eu-ai-act", assessable_only=True):
        rule = req.applicability
        if rule is None or rule.condition is None:
            continue
        eu_class = min(rule.classes)
        role = next(r for r in vocab.EU_ROLES if vocab.ROLE_ACTORS[r] & set(rule.actors))
        v = assess(req, eu_class=eu_class, eu_roles=[role], facts={}, as_of=date(2031, 1, 1))
        assert v.status == "needs_review", (req.id, v.reason)
        assert set(v.missing_facts) <= set(rule.condition.facts()) and v.missing_facts
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize("eu_class", vocab.EU_CLASSES)
def test_reasons_are_for_people_not_internal_ids(graph: ControlGraph, eu_class: str) -> None:
    for req in graph.requirements("eu-ai-act"):
        for roles in (["provider"], ["deployer", "importer"], ["none"]):
            for facts in ({}, PROFILES[2]):
                for day in (date(2025, 1, 1), date(2026, 12, 4), date(2031, 1, 1)):
                    v = assess(req, eu_class=eu_class, eu_roles=roles, facts=facts, as_of=day, horizon_days=365)
                    assert v.reason and "Art-" not in v.reason and "orig" not in v.reason, v.reason
                    assert v.reason.startswith(("applies", "not applicable", "needs review")), v.reason
                    assert bool(v.missing_facts) <= (v.status in ("needs_review", "upcoming", "not_applicable"))


def test_reason_examples(graph: ControlGraph) -> None:
    def reason(ref: str, **kw: object) -> str:
        params: dict = {"eu_class": "high_risk_annex_iii", "eu_roles": ["provider"], "as_of": date(2026, 12, 4)} | kw
        return assess(graph.requirement(f"eu-ai-act:{ref}"), **params).reason

    assert reason("Art-9.1") == (
        "applies from 2027-12-02: Annex III high-risk, Art 113(c) as amended by Reg. (EU) 2026/1744"
    )
    assert reason("Art-27.1", eu_class="high_risk_annex_i", eu_roles=["deployer"]) == (
        "not applicable: Annex I high-risk systems are outside Art 27(1)"
    )
    assert reason("Art-50.3", eu_roles=["deployer"], facts={"biometric_categorisation": False}) == (
        "needs review: the system record does not state 'emotion_recognition'"
    )
    assert reason("Art-4.orig", eu_class="minimal") == (
        "not applicable since 2026-07-27: replaced by Regulation (EU) 2026/1744 (Digital Omnibus on AI)"
    )
    assert reason("Art-26.1") == "not applicable: Art 26(1) binds deployers, and the system's EU role is provider"
    assert "deemed its provider (Art 25(3))" in reason(
        "Art-16.a", eu_class="high_risk_annex_i", eu_roles=["product_manufacturer"], as_of=date(2029, 1, 1)
    )
    assert reason("Art-50.1", eu_class="minimal", facts={"interacts_with_persons": False}) == (
        "not applicable: only for systems intended to interact directly with natural persons "
        "(interacts_with_persons: false)"
    )


def test_verdict_fields_and_json(graph: ControlGraph) -> None:
    v = assess(graph.requirement("eu-ai-act:Art-27.1"), eu_class="high_risk_annex_iii", eu_roles=["deployer"],
               facts={"annex_iii_area": "4a", "public_sector_deployer": False}, as_of=date(2027, 1, 1), horizon_days=365)
    assert v.status == "upcoming" and v.applies_from == date(2027, 12, 2)
    assert v.missing_facts == ("provides_public_service",)
    assert not v.binds
    assert v.to_dict() == {
        "status": "upcoming",
        "reason": v.reason,
        "applies_from": "2027-12-02",
        "missing_facts": ["provides_public_service"],
    }
    lapsing = assess(graph.requirement("eu-ai-act:Art-4.orig"), eu_class="minimal", eu_roles="deployer",
                     as_of=date(2026, 1, 1))
    assert lapsing.binds and lapsing.applies_until == date(2026, 7, 27)
    nist = assess(graph.requirement("nist-ai-rmf:GOVERN-1.1"), eu_class="minimal", eu_roles=["none"], as_of=date(2026, 1, 1))
    assert nist.status == "applicable"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"facts": {"interacts_with_person": True}}, "unknown system fact"),
        ({"facts": {"deep_fake": "yes"}}, "must be true, false or null"),
        ({"facts": {"annex_iii_area": "9"}}, "must be an Annex III point"),
        ({"eu_roles": ["none", "provider"]}, "cannot be combined"),
        ({"eu_roles": ["user"]}, "unknown eu_role 'user'"),
        ({"horizon_days": -1}, "horizon_days"),
    ],
)
def test_bad_inputs_are_errors(graph: ControlGraph, kwargs: dict, message: str) -> None:
    params: dict = {"eu_class": "limited", "eu_roles": ["provider"], "as_of": date(2027, 1, 1)} | kwargs
    with pytest.raises(ValueError, match=message):
        assess(graph.requirement("eu-ai-act:Art-50.1"), **params)


def test_annex_iii_point_implies_the_biometric_facts() -> None:
    facts = normalise_facts({"annex_iii_area": "1a"})
    assert facts["remote_biometric_identification"] is True
    assert normalise_facts({"annex_iii_area": "1a", "remote_biometric_identification": False})[
        "remote_biometric_identification"
    ] is False
    assert normalise_facts({"annex_iii_area": "5b"})["emotion_recognition"] is None


def test_legacy_applies_takes_one_role_or_several(graph: ControlGraph) -> None:
    art_26 = graph.requirement("eu-ai-act:Art-26.1")
    on = {"eu_class": "high_risk_annex_iii", "as_of": date(2028, 1, 1)}
    assert not applies(art_26, eu_role="provider", **on)
    assert applies(art_26, eu_role=["provider", "deployer"], **on)
    assert applies(graph.requirement("eu-ai-act:Art-27.1"), eu_role="deployer", facts={"annex_iii_area": "5b"}, **on)
    with pytest.raises(ValueError, match="unknown system fact"):
        applies(art_26, eu_role="deployer", facts={"fria_required"}, **on)


def test_controls_scoped_to_providers_match_a_deemed_provider() -> None:
    scope = AppliesTo(eu_roles=["provider"])
    assert scope.matches(eu_role="product_manufacturer", eu_class="high_risk_annex_i")
    assert not scope.matches(eu_role="product_manufacturer", eu_class="high_risk_annex_iii")
    assert scope.matches(eu_role=["deployer", "provider"], eu_class="limited")
    assert not scope.matches(eu_role=["deployer", "importer"], eu_class="limited")
    assert not scope.matches(eu_role="none")
    assert scope.matches(eu_role=None)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"text": "x", "fact": "fria_required"}, "unknown fact 'fria_required'"),
        ({"text": "x", "fact": "deep_fake", "values": ["1"]}, "takes no values"),
        ({"text": "x", "fact": "annex_iii_area"}, "needs either values or excluding"),
        ({"text": "x", "fact": "annex_iii_area", "values": ["9z"]}, "not an Annex III point"),
        ({"text": "x", "fact": "deep_fake", "any_of": [{"fact": "deep_fake"}]}, "exactly one of"),
        ({"fact": "deep_fake"}, "needs a text"),
    ],
)
def test_condition_schema_rejects_what_it_cannot_decide(condition: dict, message: str) -> None:
    block = {"kind": "obligation", "actors": ["deployer"], "scope": ["all"], "applies_from": {"all": "2026-08-02"},
             "condition": condition}
    with pytest.raises(ValidationError, match=message):
        Applicability.model_validate(block)
