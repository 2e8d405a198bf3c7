"""ControlGraph queries: controls <-> requirements, crosswalks, gaps, applicability, cache."""

from __future__ import annotations

import itertools
import textwrap
from datetime import date
from pathlib import Path

import pytest

from controls.graph import ControlGraph, load_graph
from frameworks import vocab
from frameworks.applicability import applies
from ledger.errors import NotFoundError


@pytest.fixture(scope="module")
def graph() -> ControlGraph:
    return load_graph()


def test_controls_satisfying_a_requirement(graph: ControlGraph) -> None:
    ids = [c.id for c in graph.controls_for("nist-ai-rmf:MEASURE-2.11")]
    assert "EVAL-FAIR-01" in ids
    assert [c.id for c in graph.controls_for("eu-ai-act:Art-17.1")] == ["EU-QMS-01"]
    # An article is satisfied through its paragraphs.
    assert graph.controls_for("eu-ai-act:Art-9") == []
    art_9 = {c.id for c in graph.controls_for("eu-ai-act:Art-9", include_descendants=True)}
    assert {"EU-RMS-01", "EVAL-PERF-01"} <= art_9


def test_controls_filtered_by_system_profile(graph: ControlGraph) -> None:
    all_tiers = {c.id for c in graph.controls_for("nist-ai-rmf:MEASURE-2.7")}
    low = {c.id for c in graph.controls_for("nist-ai-rmf:MEASURE-2.7", risk_tier="low")}
    assert "EVAL-REDTEAM-01" in all_tiers - low
    assert "EVAL-SEC-01" in low
    deployer = [c.id for c in graph.controls_for("eu-ai-act:Art-9.1", eu_role="deployer")]
    assert deployer == []


def test_requirements_a_control_serves(graph: ControlGraph) -> None:
    served = graph.requirements_for("EVAL-FAIR-01")
    assert [r.node_id for r in served] == [
        "nist-ai-rmf:MEASURE-2.11",
        "iso-42001:A.5.4",
        "eu-ai-act:Art-10.2",
        "eu-ai-act:Art-15.4",
    ]
    assert [r.node_id for r in graph.requirements_for("EVAL-FAIR-01", "iso-42001")] == ["iso-42001:A.5.4"]
    assert {c.id for c in graph.controls("nist-ai-600-1")} == set()
    assert "EU-QMS-01" not in {c.id for c in graph.controls("nist-ai-rmf")}


def test_crosswalk_reads_both_directions_with_source(graph: ControlGraph) -> None:
    forward = graph.crosswalk("nist-ai-rmf:GOVERN-1.1", "iso-42001")
    assert [link.target for link in forward] == ["iso-42001:4.1", "iso-42001:6.2", "iso-42001:A.2.2", "iso-42001:A.2.4"]
    assert {link.crosswalk for link in forward} == {"nist-ai-rmf-to-iso-42001"}
    back = graph.crosswalk("iso-42001:A.2.4", "nist-ai-rmf")
    assert "nist-ai-rmf:GOVERN-1.1" in {link.target for link in back}
    assert all(link.relation == "related" for link in back)


def test_crosswalk_inverts_subset_when_read_backwards(graph: ControlGraph) -> None:
    actions = graph.crosswalk("nist-ai-rmf:GOVERN-1.1", "nist-ai-600-1")
    assert [(a.target, a.relation, a.source_relation) for a in actions] == [
        ("nist-ai-600-1:GV-1.1-001", "superset", "implements")
    ]
    (up,) = graph.crosswalk("nist-ai-600-1:GV-1.1-001", "nist-ai-rmf")
    assert (up.target, up.relation) == ("nist-ai-rmf:GOVERN-1.1", "subset")


def test_crosswalk_keeps_flags_and_review_status(graph: ControlGraph) -> None:
    (suspect,) = [
        link for link in graph.crosswalk("nist-ai-rmf:MAP-1.4", "iso-42001") if link.target == "iso-42001:A.2.2"
    ]
    assert suspect.flags == ("suspected_source_error",) and suspect.confidence == "low"
    assert "Customers" in (suspect.note or "")
    editorial = graph.crosswalk("eu-ai-act:Art-9.2", "nist-ai-rmf")
    assert editorial and all(not link.reviewed and "unreviewed" in link.flags for link in editorial)


def test_crosswalk_through_the_hierarchy_is_marked(graph: ControlGraph) -> None:
    # FINOS co-references name articles; a paragraph inherits them, marked as such.
    links = graph.crosswalk("eu-ai-act:Art-14.4", "iso-42001")
    inherited = [link for link in links if link.via_hierarchy]
    assert {link.requirement for link in inherited} == {"eu-ai-act:Art-14"}
    assert "iso-42001:A.3.3" in {link.target for link in inherited}
    direct = graph.crosswalk("eu-ai-act:Art-14.4", "iso-42001", include_hierarchy=False)
    assert direct and not any(link.via_hierarchy for link in direct)
    assert "iso-42001:A.3.3" not in {link.target for link in direct}


def test_unknown_ids_are_not_found(graph: ControlGraph) -> None:
    with pytest.raises(NotFoundError, match="unknown requirement 'GOVERN-9.9' in nist-ai-rmf"):
        graph.controls_for("nist-ai-rmf:GOVERN-9.9")
    with pytest.raises(NotFoundError, match="unknown framework 'nist-csf'"):
        graph.crosswalk("nist-ai-rmf:GOVERN-1.1", "nist-csf")
    with pytest.raises(NotFoundError, match="unknown control 'GOV-99'"):
        graph.requirements_for("GOV-99")


def test_aliases_resolve(graph: ControlGraph) -> None:
    assert graph.requirement("GOVERN 1.1").node_id == "nist-ai-rmf:GOVERN-1.1"
    assert graph.requirement("GV-1.1", framework="nist-ai-rmf").node_id == "nist-ai-rmf:GOVERN-1.1"
    assert graph.requirement("eu-ai-act:Article 26(5)").node_id == "eu-ai-act:Art-26.5"
    assert graph.requirement("A.6.2.4").node_id == "iso-42001:A.6.2.4"


def test_unmapped_requirements_found_for_a_new_framework(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        textwrap.dedent("""\
            format: assure-framework/1
            framework: {id: acme, name: ACME, version: "1"}
            source: {title: ACME, licence: internal}
            requirements:
              - {id: R1, type: rule, title: Owner named}
              - {id: R2, type: rule, title: Reviewed yearly}
        """)
    )
    (tmp_path / "acme-controls.yaml").write_text(
        textwrap.dedent("""\
            format: assure-controls/1
            catalog: {id: acme-controls, name: ACME, version: "1"}
            controls:
              - {id: ACME-01, title: Owner, description: Owner named, owner: CTO,
                 satisfies: ['acme:R1'], evidence: {kind: system}}
        """)
    )
    graph = load_graph(user_dir=tmp_path)
    assert [r.node_id for r in graph.unmapped_requirements("acme")] == ["acme:R2"]
    assert [r.node_id for r in graph.unmapped_requirements()] == ["acme:R2"]
    assert [c.id for c in graph.controls_for("acme:R1")] == ["ACME-01"]


def test_graph_is_cached_by_content_hash(tmp_path: Path) -> None:
    assert load_graph() is load_graph()
    assert load_graph(user_dir=tmp_path / "missing") is load_graph()
    (tmp_path / "x.yaml").write_text(
        "format: assure-framework/1\nframework: {id: x, name: X, version: '1'}\n"
        "source: {title: X, licence: none}\nrequirements: [{id: R1, type: rule, title: One}]\n"
    )
    with_user = load_graph(user_dir=tmp_path)
    assert with_user is not load_graph()
    assert with_user.content_hash != load_graph().content_hash
    assert with_user.framework_hashes()["nist-ai-rmf"] == load_graph().framework_hashes()["nist-ai-rmf"]
    files = {f.name: f for f in with_user.definition_files()}
    assert files[str(tmp_path / "x.yaml")].data.startswith(b"format: assure-framework/1")


def test_applicable_requirements_for_a_system(graph: ControlGraph) -> None:
    on = {"eu_class": "high_risk_annex_iii", "eu_role": "deployer"}
    early = graph.applicable_requirements("eu-ai-act", **on, as_of=date(2026, 1, 1))
    assert {r.id for r in early} == {"Art-4.orig", "Art-5.1", "Art-5.3", "Art-5.4"}
    later = {r.id for r in graph.applicable_requirements("eu-ai-act", **on, as_of=date(2028, 1, 1))}
    assert {"Art-26.1", "Art-27.1", "Art-86.1", "Art-4.1"} <= later
    assert not {r for r in later if r.startswith(("Art-9.", "Art-16."))}


PROFILES = list(itertools.product(vocab.RISK_TIERS, vocab.EU_ROLES, vocab.EU_CLASSES))


@pytest.mark.parametrize(("tier", "role", "eu_class"), PROFILES, ids=["-".join(p) for p in PROFILES])
def test_every_applicable_requirement_has_an_applicable_control(
    graph: ControlGraph, tier: str, role: str, eu_class: str
) -> None:
    """For any system, each requirement that binds it has a control scoped to it."""
    gaps = [
        r.node_id
        for r in graph.requirements(assessable_only=True)
        if applies(r, eu_class=eu_class, eu_role=role, as_of=date(2031, 1, 1))
        and not graph.controls_for(r.node_id, risk_tier=tier, eu_role=role, eu_class=eu_class)
    ]
    assert gaps == []
