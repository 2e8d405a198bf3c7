"""EU AI Act applicability decided from data: role, class, date, condition facts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from controls.graph import ControlGraph
from frameworks.applicability import applies, start_date

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
    # Art 50 is scoped to transparency systems: a minimal-risk system is not held to it.
    assert not _applies(graph, "eu-ai-act:Art-50.1", eu_class="minimal", eu_role="provider")


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
