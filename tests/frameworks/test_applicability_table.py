"""EU AI Act applicability as a table: class x roles x facts x date -> status.

Each block quotes the words of Regulation (EU) 2024/1689 (as amended by
Regulation (EU) 2026/1744) that decide its rows; the expected statuses are read
from those words, not from the code. Dates are checked on the day before and the
day a provision starts, on the amended Art 113 dates:

* Art 113(a): Chapters I and II from 2025-02-02; the new Art 5(1)(ba), (bb) from
  2026-12-02;
* Art 113(b): Chapter V (general-purpose AI models) from 2025-08-02; Art 111(3):
  models already on the market by 2027-08-02;
* Art 113, first paragraph: the general date 2026-08-02 (Art 50); Art 111(4):
  Art 50(2) for generative systems already on the market by 2026-12-02;
* Art 113(c) as amended: Chapter III Sections 1-3 from 2027-12-02 for Annex III
  (Art 6(2)) systems and 2028-08-02 for Annex I (Art 6(1)) systems. Before then
  no system is classified high-risk (Art 6 is in Section 1), so the high-risk
  duties of Section 5 and Chapter IX (Arts 43, 47-49, 73) start on those dates too.

A = applicable, NA = not_applicable, NR = needs_review (a fact the condition
depends on is not stated), UP = upcoming (starts within the horizon asked for).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from controls.graph import ControlGraph
from frameworks import vocab
from frameworks.applicability import assess

A, NA, NR, UP = "applicable", "not_applicable", "needs_review", "upcoming"

HR3, HR1 = "high_risk_annex_iii", "high_risk_annex_i"
LATER = "2029-06-01"  # every date of the Act has passed

Row = tuple[str, str, str, dict[str, Any], str, str]
# (provision, eu_class, roles ('+'-joined), facts, as_of[/horizon days], expected)

ROWS: list[Row] = [
    # --- Art 5(1): "The following AI practices shall be prohibited: (a) the placing on
    # the market, the putting into service or the use of ..." -- whoever does it, whatever
    # the system; Art 113(a): from 2 February 2025.
    ("Art-5.1", "minimal", "deployer", {}, "2025-02-01", NA),
    ("Art-5.1", "minimal", "deployer", {}, "2025-02-02", A),
    ("Art-5.1", "prohibited", "provider", {}, "2025-02-02", A),
    ("Art-5.1", HR1, "distributor", {}, "2026-01-01", A),
    ("Art-5.1", "gpai", "importer", {}, "2026-01-01", A),
    ("Art-5.1", "limited", "provider+deployer", {}, "2026-01-01", A),
    ("Art-5.1", "limited", "none", {}, "2026-01-01", NA),
    # Points (ba), (bb) inserted by Reg. (EU) 2026/1744: "shall apply from 2 December 2026".
    ("Art-5.1.ba", "minimal", "provider", {}, "2026-12-01", NA),
    ("Art-5.1.ba", "minimal", "provider", {}, "2026-11-15/30", UP),
    ("Art-5.1.ba", "minimal", "provider", {}, "2026-12-02", A),
    ("Art-5.1.bb", "gpai", "deployer", {}, "2026-12-02", A),
    # Art 5(3), (4): each use of real-time remote biometric identification in publicly
    # accessible spaces for law enforcement needs prior authorisation and is notified.
    ("Art-5.3", HR3, "deployer", {"remote_biometric_identification": True,
                                 "real_time_rbi_law_enforcement": True}, "2025-02-02", A),
    ("Art-5.3", HR3, "deployer", {"remote_biometric_identification": False}, "2025-02-02", NA),
    ("Art-5.4", HR3, "deployer", {"remote_biometric_identification": True}, "2025-02-02", NR),
    ("Art-5.4", HR3, "provider", {"remote_biometric_identification": True,
                                 "real_time_rbi_law_enforcement": True}, "2025-02-02", NA),
    # --- Art 6(3): "an AI system referred to in Annex III shall not be considered to be
    # high-risk where it does not pose a significant risk ..." -- a classification rule,
    # no duty. Art 6(4): "A provider who considers that an AI system referred to in Annex
    # III is not high-risk shall document its assessment" -- from the Annex III date.
    ("Art-6.3", HR3, "provider", {}, LATER, NA),
    ("Art-6.3", "minimal", "provider", {"annex_iii_derogation": True}, LATER, NA),
    ("Art-6.4", "limited", "provider", {"annex_iii_derogation": True}, "2027-12-01", NA),
    ("Art-6.4", "limited", "provider", {"annex_iii_derogation": True}, "2027-12-02", A),
    ("Art-6.4", "minimal", "provider", {"annex_iii_derogation": True}, "2027-12-02", A),
    ("Art-6.4", "minimal", "provider", {}, LATER, NR),
    ("Art-6.4", "minimal", "provider", {"annex_iii_derogation": False}, LATER, NA),
    ("Art-6.4", "minimal", "deployer", {"annex_iii_derogation": True}, LATER, NA),
    # --- Art 9(1): "A risk management system shall be established ... in relation to
    # high-risk AI systems" (a requirement the provider meets, Art 16(a)).
    ("Art-9.1", HR3, "provider", {}, "2026-08-02", NA),  # the 2024 date no longer holds
    ("Art-9.1", HR3, "provider", {}, "2027-12-01", NA),
    ("Art-9.1", HR3, "provider", {}, "2027-12-01/1", UP),
    ("Art-9.1", HR3, "provider", {}, "2026-12-04/365", UP),
    ("Art-9.1", HR3, "provider", {}, "2026-12-04/300", NA),
    ("Art-9.1", HR3, "provider", {}, "2027-12-02", A),
    ("Art-9.1", HR1, "provider", {}, "2027-08-02", NA),  # the 2024 Annex I date no longer holds
    ("Art-9.1", HR1, "provider", {}, "2028-08-01", NA),
    ("Art-9.1", HR1, "provider", {}, "2028-08-02", A),
    # Art 25(3): for Annex I products "the product manufacturer shall be considered to be
    # the provider of the high-risk AI system"; Annex III systems are not such products.
    ("Art-9.1", HR1, "product_manufacturer", {}, "2028-08-02", A),
    ("Art-9.1", HR3, "product_manufacturer", {}, LATER, NA),
    ("Art-9.1", HR3, "deployer", {}, LATER, NA),
    ("Art-9.1", HR3, "provider+deployer", {}, LATER, A),
    ("Art-9.1", HR3, "importer", {}, LATER, NA),
    ("Art-9.1", "limited", "provider", {}, LATER, NA),
    ("Art-9.1", "gpai", "provider", {}, LATER, NA),
    # --- Art 16(i): providers "comply with the registration obligations referred to in
    # Article 49(1)", which concern "a high-risk AI system listed in Annex III, with the
    # exception of high-risk AI systems referred to in point 2 of Annex III".
    ("Art-16.i", HR3, "provider", {"annex_iii_area": "5b"}, "2027-12-01", NA),
    ("Art-16.i", HR3, "provider", {"annex_iii_area": "5b"}, "2027-12-02", A),
    ("Art-16.i", HR3, "provider", {}, "2027-12-02", NR),
    ("Art-16.i", HR3, "provider", {"annex_iii_area": "2"}, LATER, NA),
    ("Art-16.i", HR1, "provider", {}, LATER, NA),
    ("Art-16.i", HR1, "product_manufacturer", {}, LATER, NA),
    # --- Art 26(1): "Deployers of high-risk AI systems shall take appropriate technical
    # and organisational measures to ensure they use such systems in accordance with the
    # instructions for use".
    ("Art-26.1", HR3, "deployer", {}, "2027-12-01", NA),
    ("Art-26.1", HR3, "deployer", {}, "2027-12-02", A),
    ("Art-26.1", HR1, "deployer", {}, "2028-08-01", NA),
    ("Art-26.1", HR1, "deployer", {}, "2028-08-02", A),
    ("Art-26.1", HR3, "provider", {}, LATER, NA),
    ("Art-26.1", HR3, "provider+deployer", {}, LATER, A),
    ("Art-26.1", "limited", "deployer", {}, LATER, NA),
    # Art 26(11): "deployers of high-risk AI systems referred to in Annex III that make
    # decisions or assist in making decisions related to natural persons shall inform
    # the natural persons".
    ("Art-26.11", HR3, "deployer", {"decides_about_persons": True}, "2027-12-02", A),
    ("Art-26.11", HR3, "deployer", {}, "2027-12-02", NR),
    ("Art-26.11", HR3, "deployer", {"decides_about_persons": False}, LATER, NA),
    ("Art-26.11", HR1, "deployer", {"decides_about_persons": True}, LATER, NA),
    # --- Art 27(1): "Prior to deploying a high-risk AI system referred to in Article 6(2),
    # with the exception of high-risk AI systems intended to be used in the area listed in
    # point 2 of Annex III, deployers that are bodies governed by public law, or are
    # private entities providing public services, and deployers of high-risk AI systems
    # referred to in points 5 (b) and (c) of Annex III, shall perform an assessment".
    ("Art-27.1", HR3, "deployer", {"public_sector_deployer": True, "annex_iii_area": "3a"}, "2027-12-01", NA),
    ("Art-27.1", HR3, "deployer", {"public_sector_deployer": True, "annex_iii_area": "3a"}, "2027-12-02", A),
    ("Art-27.1", HR3, "deployer", {"provides_public_service": True, "annex_iii_area": "4a"}, LATER, A),
    ("Art-27.1", HR3, "deployer", {"annex_iii_area": "5b", "public_sector_deployer": False,
                                  "provides_public_service": False}, LATER, A),
    ("Art-27.1", HR3, "deployer", {"annex_iii_area": "5c"}, LATER, A),
    ("Art-27.1", HR3, "deployer", {"annex_iii_area": "5a", "public_sector_deployer": False,
                                  "provides_public_service": False}, LATER, NA),
    ("Art-27.1", HR3, "deployer", {"annex_iii_area": "2", "public_sector_deployer": True}, LATER, NA),
    ("Art-27.1", HR3, "deployer", {"annex_iii_area": "4a", "public_sector_deployer": False}, LATER, NR),
    ("Art-27.1", HR3, "deployer", {}, LATER, NR),
    ("Art-27.1", HR3, "deployer", {"annex_iii_area": "5b"}, "2027-01-01/365", UP),
    ("Art-27.1", HR1, "deployer", {"public_sector_deployer": True}, LATER, NA),
    ("Art-27.1", HR3, "provider", {"public_sector_deployer": True, "annex_iii_area": "5b"}, LATER, NA),
    ("Art-27.3", HR3, "deployer", {"annex_iii_area": "5b"}, LATER, A),
    ("Art-27.3", HR1, "deployer", {"public_sector_deployer": True}, LATER, NA),
    # --- Art 49(1): "Before placing on the market or putting into service a high-risk AI
    # system listed in Annex III, with the exception of high-risk AI systems referred to
    # in point 2 of Annex III, the provider or, where applicable, the authorised
    # representative shall register themselves and their system in the EU database".
    ("Art-49.1", HR3, "provider", {"annex_iii_area": "5b"}, "2026-08-02", NA),
    ("Art-49.1", HR3, "provider", {"annex_iii_area": "5b"}, "2027-12-01", NA),
    ("Art-49.1", HR3, "provider", {"annex_iii_area": "5b"}, "2027-12-02", A),
    ("Art-49.1", HR3, "provider", {"annex_iii_area": "2"}, LATER, NA),
    ("Art-49.1", HR3, "provider", {}, LATER, NR),
    ("Art-49.1", HR3, "authorised_representative", {"annex_iii_area": "4b"}, LATER, A),
    ("Art-49.1", HR3, "deployer", {"annex_iii_area": "5b"}, LATER, NA),
    ("Art-49.1", HR1, "provider", {}, LATER, NA),
    # Art 49(3): "deployers that are public authorities, Union institutions, bodies,
    # offices or agencies ... shall register" Annex III systems other than point 2.
    ("Art-49.3", HR3, "deployer", {"public_sector_deployer": True, "annex_iii_area": "5a"}, LATER, A),
    ("Art-49.3", HR3, "deployer", {"public_sector_deployer": False, "annex_iii_area": "5a"}, LATER, NA),
    ("Art-49.3", HR3, "deployer", {"public_sector_deployer": True}, LATER, NR),
    ("Art-49.3", HR1, "deployer", {"public_sector_deployer": True}, LATER, NA),
    # --- Art 50(1): "Providers shall ensure that AI systems intended to interact directly
    # with natural persons are designed and developed in such a way that the natural
    # persons concerned are informed" -- any system, high-risk included (Art 50(6): the
    # Article is "without prejudice to the requirements and obligations set out in
    # Chapter III"); from the general date 2026-08-02.
    ("Art-50.1", "minimal", "provider", {"interacts_with_persons": True}, "2026-08-01", NA),
    ("Art-50.1", "minimal", "provider", {"interacts_with_persons": True}, "2026-08-02", A),
    ("Art-50.1", HR3, "provider", {"interacts_with_persons": True}, "2026-08-02", A),
    ("Art-50.1", HR1, "product_manufacturer", {"interacts_with_persons": True}, LATER, A),
    ("Art-50.1", "gpai", "provider", {"interacts_with_persons": True}, LATER, A),
    ("Art-50.1", "prohibited", "provider", {"interacts_with_persons": True}, LATER, NA),
    ("Art-50.1", "minimal", "provider", {"interacts_with_persons": False}, LATER, NA),
    ("Art-50.1", "minimal", "provider", {}, LATER, NR),
    ("Art-50.1", "limited", "deployer", {"interacts_with_persons": True}, LATER, NA),
    # Art 50(2): "Providers of AI systems, including general-purpose AI systems,
    # generating synthetic audio, image, video or text content, shall ensure that the
    # outputs ... are marked"; Art 111(4): systems on the market before 2026-08-02 by
    # 2 December 2026 (the dates of placing on the market are given per row below).
    ("Art-50.2", "limited", "provider", {"generates_synthetic_content": True}, "2026-08-02", A),
    ("Art-50.2", HR1, "provider", {"generates_synthetic_content": True}, "2026-08-02", A),
    ("Art-50.2", "minimal", "provider", {}, LATER, NR),
    ("Art-50.2", "minimal", "provider", {"generates_synthetic_content": False}, LATER, NA),
    ("Art-50.2", "limited", "deployer", {"generates_synthetic_content": True}, LATER, NA),
    # Art 50(3): "Deployers of an emotion recognition system or a biometric categorisation
    # system shall inform the natural persons exposed thereto".
    ("Art-50.3", HR3, "deployer", {"emotion_recognition": True}, "2026-08-01", NA),
    ("Art-50.3", HR3, "deployer", {"emotion_recognition": True}, "2026-08-02", A),
    ("Art-50.3", HR3, "deployer", {"emotion_recognition": False, "biometric_categorisation": True}, LATER, A),
    ("Art-50.3", HR3, "deployer", {"emotion_recognition": False, "biometric_categorisation": False}, LATER, NA),
    ("Art-50.3", HR3, "deployer", {"emotion_recognition": False}, LATER, NR),
    ("Art-50.3", HR3, "deployer", {"annex_iii_area": "1c"}, LATER, A),  # Annex III 1(c): emotion recognition
    ("Art-50.3", "minimal", "deployer", {}, LATER, NR),
    ("Art-50.3", HR3, "provider", {"emotion_recognition": True}, LATER, NA),
    # Art 50(4): "Deployers of an AI system that generates or manipulates image, audio or
    # video content constituting a deep fake, shall disclose ..." and likewise for "text
    # which is published with the purpose of informing the public on matters of public
    # interest".
    ("Art-50.4", "minimal", "deployer", {"deep_fake": True}, "2026-08-01", NA),
    ("Art-50.4", "minimal", "deployer", {"deep_fake": True}, "2026-08-02", A),
    ("Art-50.4", "limited", "deployer", {"deep_fake": False, "published_ai_text": True}, LATER, A),
    ("Art-50.4", "limited", "deployer", {"deep_fake": False, "published_ai_text": False}, LATER, NA),
    ("Art-50.4", "limited", "deployer", {}, LATER, NR),
    ("Art-50.4", "gpai_systemic", "deployer", {"deep_fake": True}, LATER, A),
    ("Art-50.4", "limited", "provider", {"deep_fake": True}, LATER, NA),
    # --- Art 53(1): "Providers of general-purpose AI models shall ..."; Art 113(b):
    # Chapter V from 2 August 2025.
    ("Art-53.1", "gpai", "provider", {}, "2025-08-01", NA),
    ("Art-53.1", "gpai", "provider", {}, "2025-08-02", A),
    ("Art-53.1", "gpai_systemic", "provider", {}, "2025-08-02", A),
    ("Art-53.1", "gpai", "deployer", {}, LATER, NA),
    ("Art-53.1", HR3, "provider", {}, LATER, NA),
    # Art 54(1): "Prior to placing a general-purpose AI model on the Union market,
    # providers established in third countries shall ... appoint an authorised
    # representative"; 54(3): the representative "shall perform the tasks specified".
    ("Art-54.1", "gpai", "provider", {"non_eu_provider": True}, "2025-08-02", A),
    ("Art-54.1", "gpai", "provider", {"non_eu_provider": False}, LATER, NA),
    ("Art-54.1", "gpai", "provider", {}, LATER, NR),
    ("Art-54.3", "gpai", "authorised_representative", {}, "2025-08-02", A),
    ("Art-54.3", "gpai", "provider", {}, LATER, NA),
    # Art 55(1): "providers of general-purpose AI models with systemic risk shall ...".
    ("Art-55.1", "gpai_systemic", "provider", {}, "2025-08-01", NA),
    ("Art-55.1", "gpai_systemic", "provider", {}, "2025-08-02", A),
    ("Art-55.1", "gpai", "provider", {}, LATER, NA),
    # --- Arts 22-24: the authorised representative, importer and distributor of a
    # high-risk AI system, from the Chapter III dates.
    ("Art-22.3", HR3, "authorised_representative", {}, "2027-12-02", A),
    ("Art-22.3", HR3, "provider", {}, LATER, NA),
    ("Art-22.1", HR3, "provider", {"non_eu_provider": True}, "2027-12-02", A),
    ("Art-22.1", HR3, "provider", {"non_eu_provider": False}, LATER, NA),
    ("Art-23.1", HR1, "importer", {}, "2028-08-01", NA),
    ("Art-23.1", HR1, "importer", {}, "2028-08-02", A),
    ("Art-24.1", HR3, "distributor", {}, "2027-12-02", A),
    ("Art-24.1", HR3, "importer", {}, LATER, NA),
    ("Art-24.1", "limited", "distributor", {}, LATER, NA),
    # --- Art 73(1): "Providers of high-risk AI systems placed on the Union market shall
    # report any serious incident"; (2)-(4) set the deadlines from when "the provider or,
    # where applicable, the deployer" becomes aware: 15 days, 2 days (widespread
    # infringement, critical infrastructure), 10 days (death).
    ("Art-73.1", HR3, "provider", {}, "2026-08-02", NA),
    ("Art-73.1", HR3, "provider", {}, "2027-12-01", NA),
    ("Art-73.1", HR3, "provider", {}, "2027-12-02", A),
    ("Art-73.1", HR1, "provider", {}, "2028-08-01", NA),
    ("Art-73.1", HR1, "provider", {}, "2028-08-02", A),
    ("Art-73.1", HR3, "deployer", {}, LATER, NA),
    ("Art-73.2", HR3, "deployer", {}, "2027-12-02", A),
    ("Art-73.3", HR3, "deployer", {}, LATER, A),
    ("Art-73.4", HR3, "deployer", {}, LATER, A),
    ("Art-73.2", HR1, "provider", {}, "2028-08-02", A),
    ("Art-73.4", "limited", "provider", {}, LATER, NA),
]


def _row_id(row: Row) -> str:
    ref, eu_class, roles, facts, when, expected = row
    shown = ",".join(f"{k}={v}" for k, v in facts.items())
    return f"{ref}|{eu_class}|{roles}|{shown}|{when}->{expected}"


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_applicability_table(graph: ControlGraph, row: Row) -> None:
    ref, eu_class, roles, facts, when, expected = row
    day, _, horizon = when.partition("/")
    verdict = assess(
        graph.requirement(f"eu-ai-act:{ref}"),
        eu_class=eu_class,
        eu_roles=roles.split("+"),
        facts=facts,
        as_of=date.fromisoformat(day),
        horizon_days=int(horizon) if horizon else None,
    )
    assert verdict.status == expected, verdict.reason
    if expected == NR:
        assert verdict.missing_facts and all(f in verdict.reason for f in verdict.missing_facts)


@pytest.mark.parametrize(
    ("placed", "as_of", "expected"),
    [
        # Art 111(4): on the market before 2 August 2026 -> comply with Art 50(2) by 2 December 2026.
        (date(2026, 1, 1), date(2026, 9, 1), NA),
        (date(2026, 1, 1), date(2026, 12, 2), A),
        (date(2026, 8, 10), date(2026, 8, 10), A),
    ],
)
def test_art_50_2_generative_systems_already_on_the_market(
    graph: ControlGraph, placed: date, as_of: date, expected: str
) -> None:
    verdict = assess(
        graph.requirement("eu-ai-act:Art-50.2"), eu_class="limited", eu_roles=["provider"],
        facts={"generates_synthetic_content": True}, as_of=as_of, placed_on_market=placed,
    )
    assert verdict.status == expected, verdict.reason


@pytest.mark.parametrize(
    ("placed", "as_of", "expected"),
    [
        # Art 111(3): models on the market before 2 August 2025 comply by 2 August 2027.
        (date(2025, 1, 1), date(2027, 8, 1), NA),
        (date(2025, 1, 1), date(2027, 8, 2), A),
        (date(2025, 9, 1), date(2025, 9, 1), A),
    ],
)
def test_gpai_models_already_on_the_market(graph: ControlGraph, placed: date, as_of: date, expected: str) -> None:
    for ref in ("eu-ai-act:Art-53.1", "eu-ai-act:Art-55.1"):
        verdict = assess(graph.requirement(ref), eu_class="gpai_systemic", eu_roles=["provider"],
                         as_of=as_of, placed_on_market=placed)
        assert verdict.status == expected, (ref, verdict.reason)


def test_table_covers_the_representative_provisions() -> None:
    covered = {row[0] for row in ROWS}
    wanted = {"Art-5.1", "Art-6.3", "Art-6.4", "Art-9.1", "Art-16.i", "Art-26.1", "Art-27.1", "Art-49.1",
              "Art-50.1", "Art-50.2", "Art-50.3", "Art-50.4", "Art-53.1", "Art-55.1", "Art-73.1"}
    assert wanted <= covered
    assert {row[1] for row in ROWS} == set(vocab.EU_CLASSES)
    roles = {r for row in ROWS for r in row[2].split("+")}
    assert roles == set(vocab.EU_ROLES)
    assert {s for *_, s in ROWS} == {A, NA, NR, UP}
