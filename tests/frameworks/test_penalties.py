"""Fines of Arts 99-101 per EU AI Act provision, as amended by Reg. (EU) 2026/1744.

Expectations come from the text: Art 99(3) fines breaches of Art 5 (EUR 35m / 7 %);
Art 99(4) the operator obligations it lists -- "(a) obligations of providers pursuant
to Article 16; (b) ... authorised representatives pursuant to Article 22; (c) ...
importers pursuant to Article 23; (d) ... distributors pursuant to Article 24; (da)
obligations of providers and operators pursuant to Article 25(2) and (4) [inserted
by 2026/1744]; (e) ... deployers pursuant to Article 26; ... (g) transparency
obligations for providers and deployers pursuant to Article 50" (EUR 15m / 3 %);
Art 99(5) incorrect information in reply to a request (EUR 7.5m / 1 %); Art 101
GPAI model providers, by the Commission (EUR 15m / 3 %), from 2026-08-02.
"""

from __future__ import annotations

from datetime import date

import pytest

from controls.graph import ControlGraph
from frameworks.penalties import fine_tier, penalties


def _refs(graph: ControlGraph, ref: str, **kw: object) -> list[tuple[str, str | None]]:
    return [(p.reference, p.via) for p in penalties(graph.requirement(f"eu-ai-act:{ref}"), **kw)]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("Art-5.1", [("Art 99(3)", None)]),
        ("Art-5.1.ba", [("Art 99(3)", None)]),
        ("Art-16.a", [("Art 99(4)(a)", None)]),
        ("Art-9.1", [("Art 99(4)(a)", "Art 16(a)")]),
        ("Art-15.5", [("Art 99(4)(a)", "Art 16(a)")]),
        ("Art-17.1", [("Art 99(4)(a)", "Art 16(c)")]),
        ("Art-43.2", [("Art 99(4)(a)", "Art 16(f)")]),
        ("Art-49.1", [("Art 99(4)(a)", "Art 16(i)")]),
        ("Art-21.1", [("Art 99(4)(a)", "Art 16(k)"), ("Art 99(5)", None)]),
        ("Art-22.3", [("Art 99(4)(b)", None), ("Art 99(5)", None)]),
        ("Art-22.1", [("Art 99(1)", None)]),  # the provider's duty to appoint is not listed
        ("Art-23.1", [("Art 99(4)(c)", None)]),
        ("Art-24.5", [("Art 99(4)(d)", None), ("Art 99(5)", None)]),
        ("Art-25.2", [("Art 99(4)(da)", None)]),
        ("Art-26.1", [("Art 99(4)(e)", None)]),
        ("Art-49.3", [("Art 99(4)(e)", "Art 26(8)")]),
        ("Art-27.1", [("Art 99(1)", None)]),  # the FRIA is not among the Art 99(4) points
        ("Art-50.1", [("Art 99(4)(g)", None)]),
        ("Art-50.4", [("Art 99(4)(g)", None)]),
        ("Art-6.4", [("Art 99(1)", None), ("Art 99(5)", None)]),
        ("Art-53.1", [("Art 101(1)", None)]),
        ("Art-55.1", [("Art 101(1)", None)]),
        ("Art-4.1", [("Art 99(1)", None)]),
    ],
)
def test_each_provision_names_the_point_that_fines_it(graph: ControlGraph, ref: str, expected: list) -> None:
    assert _refs(graph, ref) == expected


def test_ceilings_and_dates(graph: ControlGraph) -> None:
    art_5 = fine_tier(graph.requirement("eu-ai-act:Art-5.1"))
    assert art_5 is not None
    assert (art_5.max_eur, art_5.max_turnover_percent, art_5.applies_from) == (35_000_000, 7, date(2025, 8, 2))
    assert "SMCs" not in (art_5.smaller_firms or "")  # Art 99(6a) covers paragraphs 4 and 5 only
    listed = fine_tier(graph.requirement("eu-ai-act:Art-17.1"))
    assert listed is not None and (listed.max_eur, listed.max_turnover_percent) == (15_000_000, 3)
    assert listed.summary == (
        "Art 99(4)(a) via Art 16(c): up to EUR 15 000 000 or 3 % of total worldwide annual turnover, "
        "whichever is higher (SMEs, including start-ups, and SMCs: whichever is lower (Art 99(6), (6a)))"
    )
    info = penalties(graph.requirement("eu-ai-act:Art-23.6"))[-1]
    assert (info.reference, info.max_eur, info.max_turnover_percent) == ("Art 99(5)", 7_500_000, 1)
    gpai = fine_tier(graph.requirement("eu-ai-act:Art-53.1"))
    assert gpai is not None and gpai.imposed_by == "the Commission" and gpai.applies_from == date(2026, 8, 2)
    national = fine_tier(graph.requirement("eu-ai-act:Art-27.1"))
    assert national is not None and national.max_eur is None and "Member State law" in national.summary


def test_amended_points_exist_only_in_the_amended_act(graph: ControlGraph) -> None:
    art_25 = graph.requirement("eu-ai-act:Art-25.4")
    (now,) = penalties(art_25)
    assert now.reference == "Art 99(4)(da)" and now.applies_from == date(2026, 7, 27)
    assert "inserted by Reg. (EU) 2026/1744" in (now.amended or "")
    (before,) = penalties(art_25, law="original")
    assert before.reference == "Art 99(1)"
    assert "SMCs" not in (fine_tier(graph.requirement("eu-ai-act:Art-26.1"), law="original").smaller_firms or "")


def test_serious_incident_deadlines_fine_deployers_through_art_26(graph: ControlGraph) -> None:
    assert _refs(graph, "Art-73.2", eu_roles=["deployer"]) == [("Art 99(4)(e)", "Art 26(5)")]
    assert _refs(graph, "Art-73.2", eu_roles=["provider"]) == [("Art 99(1)", None)]
    assert len(penalties(graph.requirement("eu-ai-act:Art-73.4"))) == 2
    assert _refs(graph, "Art-73.1", eu_roles=["deployer"]) == []


def test_roles_filter_and_deemed_provider(graph: ControlGraph) -> None:
    assert _refs(graph, "Art-26.1", eu_roles=["provider"]) == []
    assert _refs(graph, "Art-16.a", eu_roles=["product_manufacturer"], eu_class="high_risk_annex_i") == [
        ("Art 99(4)(a)", None)
    ]
    assert _refs(graph, "Art-16.a", eu_roles=["product_manufacturer"], eu_class="high_risk_annex_iii") == []


@pytest.mark.parametrize("ref", ["eu-ai-act:Art-9.7", "eu-ai-act:Art-6.3", "eu-ai-act:Art-9", "nist-ai-rmf:GOVERN-1.1"])
def test_no_penalty_outside_binding_eu_provisions(graph: ControlGraph, ref: str) -> None:
    assert penalties(graph.requirement(ref)) == ()
    assert fine_tier(graph.requirement(ref)) is None


def test_every_binding_provision_has_a_fine_and_json(graph: ControlGraph) -> None:
    for req in graph.requirements("eu-ai-act", assessable_only=True):
        found = penalties(req)
        assert found, req.id
        for p in found:
            data = p.to_dict()
            assert data["reference"].startswith(("Art 99(", "Art 101(")) and data["summary"]
