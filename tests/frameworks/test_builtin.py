"""The shipped definitions: counts a GRC user can check against the published texts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from controls.graph import ControlGraph
from frameworks import vocab
from frameworks.errors import FrameworkLoadError
from frameworks.loader import BUILTIN_DIR, validate_files
from frameworks.schema import json_schema

STAGED = Path(os.environ.get("ASSURE_FRAMEWORK_SOURCES", "/work/shared/docs/frameworks"))


def _by_type(graph: ControlGraph, framework: str) -> Counter[str]:
    return Counter(r.type for r in graph.requirements(framework))


def test_nist_ai_rmf_has_4_functions_19_categories_72_subcategories(graph: ControlGraph) -> None:
    assert _by_type(graph, "nist-ai-rmf") == {"function": 4, "category": 19, "subcategory": 72}
    per_function = Counter(
        r.id.split("-")[0] for r in graph.requirements("nist-ai-rmf") if r.type == "subcategory"
    )
    assert per_function == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    assert {r.id for r in graph.requirements("nist-ai-rmf", assessable_only=True)} == {
        r.id for r in graph.requirements("nist-ai-rmf") if r.type == "subcategory"
    }
    first, last = graph.requirement("nist-ai-rmf:GOVERN-1.1"), graph.requirement("nist-ai-rmf:MANAGE-4.3")
    assert first.text == "Legal and regulatory requirements involving AI are understood, managed, and documented."
    assert last.parent == "nist-ai-rmf:MANAGE-4"


def test_iso_42001_annex_a_has_38_controls_in_9_groups(graph: ControlGraph) -> None:
    groups = [r for r in graph.children("iso-42001:A") if r.type == "control-group"]
    assert [g.id for g in groups] == [f"A.{n}" for n in range(2, 11)]
    controls = [r for r in graph.descendants("iso-42001:A") if r.type == "control"]
    assert len(controls) == 38
    per_group = Counter(".".join(c.id.split(".")[:2]) for c in controls)
    assert per_group == {"A.2": 3, "A.3": 2, "A.4": 5, "A.5": 4, "A.6": 9, "A.7": 5, "A.8": 4, "A.9": 3, "A.10": 3}
    assert controls[0].id == "A.2.2" and controls[-1].id == "A.10.4"


def test_iso_42001_clause_requirements_and_no_iso_text(graph: ControlGraph) -> None:
    clauses = [r for r in graph.requirements("iso-42001") if r.type == "clause"]
    assert [c.id for c in clauses] == ["4", "5", "6", "7", "8", "9", "10"]
    leaves = [r for r in graph.requirements("iso-42001") if r.type == "requirement"]
    assert len(leaves) == 32
    # Only identifiers, headings and our paraphrases: no normative text field at all.
    assert all(r.text is None for r in graph.requirements("iso-42001"))
    assert graph.requirement("iso-42001:A.6.2.4").title == "AI system verification and validation"


@pytest.mark.parametrize(
    "article",
    ["4", "5", *map(str, range(9, 16)), "16", "17", "18", "19", "20", "22", "26", "27", "43",
     "47", "48", "49", "50", "53", "54", "55", "72", "73"],
)
def test_eu_ai_act_article_present_with_paragraphs(graph: ControlGraph, article: str) -> None:
    node = graph.requirement(f"eu-ai-act:Art-{article}")
    assert node.type == "article"
    assert graph.children(node.node_id), f"Art {article} has no provisions"


def test_eu_ai_act_paragraphs_carry_actor_scope_and_both_dates(graph: ControlGraph) -> None:
    art_9_2 = graph.requirement("eu-ai-act:Art 9(2)")
    assert art_9_2.node_id == "eu-ai-act:Art-9.2"
    rule = art_9_2.applicability
    assert rule is not None and rule.actors == ["provider"] and rule.scope == ["high_risk"]
    assert str(rule.applies_from["high_risk_annex_iii"]) == "2027-12-02"
    assert str(rule.applies_from["high_risk_annex_i"]) == "2028-08-02"
    assert str(rule.original_applies_from["high_risk_annex_iii"]) == "2026-08-02"
    for req in graph.requirements("eu-ai-act", assessable_only=True):
        assert req.applicability is not None and req.applicability.binding, req.node_id


def test_eu_ai_act_acknowledges_eur_lex(graph: ControlGraph) -> None:
    fw = graph.framework("eu-ai-act")
    assert fw.source.attribution == "© European Union, https://eur-lex.europa.eu"
    assert b"https://eur-lex.europa.eu" in fw.file.data.split(b"\n", 3)[1]


def test_default_catalog_maps_every_assessable_requirement(graph: ControlGraph) -> None:
    assert [r.node_id for r in graph.unmapped_requirements()] == []
    assert 40 <= len(graph.controls()) <= 80


@pytest.mark.parametrize(
    ("framework", "select", "expected"),
    [
        ("nist-ai-rmf", lambda r: r.type == "subcategory", 72),
        ("iso-42001", lambda r: r.type == "control", 38),
        (
            "eu-ai-act",
            lambda r: r.assessable
            and set(r.applicability.actors) & vocab.ROLE_ACTORS["provider"]
            and r.applicability.classes & vocab.SCOPES["high_risk"],
            None,
        ),
    ],
    ids=["nist-subcategories", "iso-annex-a", "eu-high-risk-provider-obligations"],
)
def test_required_sets_each_have_a_control(graph: ControlGraph, framework, select, expected) -> None:
    chosen = [r for r in graph.requirements(framework) if select(r)]
    if expected is not None:
        assert len(chosen) == expected
    missing = [r.node_id for r in chosen if not graph.controls_for(r.node_id)]
    assert missing == []
    assert len(chosen) > 20


def test_crosswalk_counts_and_suspected_errors_kept(graph: ControlGraph) -> None:
    cws = {c.id: c for c in graph.crosswalks()}
    airc = cws["nist-ai-rmf-to-iso-42001"].mappings
    assert len(airc) == 280
    assert {m.relation for m in airc} == {"related"}
    assert {m.source.split(":")[1] for m in airc} == {
        r.id for r in graph.requirements("nist-ai-rmf") if r.type == "subcategory"
    }
    flagged = {(m.source, m.target) for m in airc if "suspected_source_error" in m.flags}
    assert flagged == {
        ("nist-ai-rmf:GOVERN-3.2", "iso-42001:A.3.2"),
        ("nist-ai-rmf:MAP-1.4", "iso-42001:A.2.2"),
        ("nist-ai-rmf:MAP-1.5", "iso-42001:6.1.1"),
    }
    gai = cws["nist-ai-600-1-to-ai-rmf"].mappings
    assert len(gai) == 212 and len({m.target for m in gai}) == 49
    assert not cws["eu-ai-act-editorial"].info.reviewed
    assert all("unreviewed" in m.flags for m in cws["eu-ai-act-editorial"].mappings)
    finos = cws["finos-aigf-coreferences"]
    assert "CC BY 4.0" in (finos.source.attribution or "") and len(finos.mappings) == 29


def test_gai_profile_actions_tagged_with_risks(graph: ControlGraph) -> None:
    fw = graph.framework("nist-ai-600-1")
    actions = [r for r in fw.requirements if r.type == "action"]
    assert len(actions) == 212
    assert len(fw.vocabularies["gai_risk"]) >= 12
    assert set(graph.requirement("nist-ai-600-1:GV-1.1-001").spec.tags["gai_risk"]) == {
        "data-privacy", "harmful-bias-homogenization", "intellectual-property"
    }


def test_framework_hashes_are_sha256_of_shipped_files(graph: ControlGraph) -> None:
    hashes = graph.framework_hashes()
    assert set(hashes) == {"nist-ai-rmf", "nist-ai-600-1", "iso-42001", "eu-ai-act"}
    for fid, digest in hashes.items():
        path = graph.framework(fid).file.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_shipped_json_schema_is_current() -> None:
    shipped = json.loads((BUILTIN_DIR / "schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema(), "regenerate with: assure frameworks schema > frameworks/schema.json"


@pytest.mark.skipif(not (STAGED / "eu-ai-act.json").exists(), reason="staged JSON sources not present")
def test_yaml_regenerates_identically_from_sources(tmp_path: Path) -> None:
    script = BUILTIN_DIR / "tools" / "build_yaml.py"
    subprocess.run(
        [sys.executable, str(script), "--source", str(STAGED), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml"))
    assert generated
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (BUILTIN_DIR / rel).read_bytes(), f"{rel} differs"


# --- content fixes (issue 12) ----------------------------------------------------------

REWORDED = ("A.2.2", "A.3.3", "A.4.5", "A.6.2.2", "A.6.2.4", "A.8.3", "A.8.5")


def test_measure_4_3_hyphenation_fixed(graph: ControlGraph) -> None:
    text = graph.requirement("nist-ai-rmf:MEASURE-4.3").text or ""
    assert "field data about context-relevant risks" in text
    assert not any("contextrelevant" in (r.text or "") for r in graph.requirements("nist-ai-rmf"))


def test_iso_paraphrases_are_our_own_one_line_wording(graph: ControlGraph) -> None:
    staged = {}
    if (STAGED / "iso-42001.json").exists():
        src = json.loads((STAGED / "iso-42001.json").read_text(encoding="utf-8"))
        staged = {
            c["id"]: c["paraphrase"]
            for g in src["annex_a"]["groups"]
            for c in [*g["controls"], *(x for sub in g.get("subgroups") or [] for x in sub["controls"])]
        }
    for cid in REWORDED:
        summary = graph.requirement(f"iso-42001:{cid}").summary or ""
        assert summary and "\n" not in summary and len(summary) <= 120 and summary.endswith((".", ")."))
        # Not the standard's "The organization shall <verb> ..." turned into an imperative.
        first = summary.split()[0]
        assert first not in {"Have", "Provide", "Record", "Specify", "Define", "Give", "Determine"}, cid
        if staged:
            assert summary != staged[cid], cid
    assert "A.2.2" in graph.framework("iso-42001").source.notes[-1]


def test_eu_title_names_the_regulation_once(graph: ControlGraph) -> None:
    info = graph.framework("eu-ai-act").info
    heading = f"{info.name} {info.version}"
    assert heading.count("2024/1689") == 1 and "2026/1744" in heading


def test_art_86_basis_matches_its_annex_iii_date(graph: ControlGraph) -> None:
    rule = graph.requirement("eu-ai-act:Art-86.1").applicability
    assert rule is not None and rule.scope == ["high_risk_annex_iii"]
    assert dict(rule.applies_from) == {"high_risk_annex_iii": date(2027, 12, 2)}
    assert rule.basis == "Art 113(c) as amended by Reg. (EU) 2026/1744"
    assert "Annex I " not in (rule.note or "") and "2028" not in (rule.note or "")


def test_art_73_deadlines_name_the_same_actors(graph: ControlGraph) -> None:
    actors = {ref: graph.requirement(f"eu-ai-act:{ref}").applicability.actors for ref in ("Art-73.2", "Art-73.3", "Art-73.4")}
    assert all(a == ["provider", "deployer"] for a in actors.values()), actors
    assert graph.requirement("eu-ai-act:Art-73.1").applicability.actors == ["provider"]


def test_conditions_read_only_known_facts_and_every_fact_is_read(graph: ControlGraph) -> None:
    read = {
        f
        for r in graph.requirements("eu-ai-act")
        if r.applicability and r.applicability.condition
        for f in r.applicability.condition.facts()
    }
    assert read == set(vocab.FACTS)


def test_annex_iii_points_match_the_staged_annex() -> None:
    if not (STAGED / "eu-ai-act.json").exists():
        pytest.skip("staged JSON sources not present")
    src = json.loads((STAGED / "eu-ai-act.json").read_text(encoding="utf-8"))
    (annex,) = [a for a in src["annexes"] if a["annex"] == "III"]
    points = [
        f"{item['point']}{sub['point']}" for item in annex["items"] for sub in item.get("subpoints") or []
    ] + [item["point"] for item in annex["items"] if not item.get("subpoints")]
    assert sorted(points) == sorted(vocab.ANNEX_III_POINTS)


def test_doubtful_airc_pairs_are_flagged_with_a_rationale(graph: ControlGraph) -> None:
    airc = {(m.source, m.target): m for m in {c.id: c for c in graph.crosswalks()}["nist-ai-rmf-to-iso-42001"].mappings}
    doubtful = {pair for pair, m in airc.items() if "needs_review" in m.flags}
    assert doubtful == {
        ("nist-ai-rmf:GOVERN-4.1", "iso-42001:A.10.3"),
        ("nist-ai-rmf:GOVERN-3.2", "iso-42001:A.5.3"),
        ("nist-ai-rmf:MEASURE-3.2", "iso-42001:10.1"),
    }
    for pair in doubtful:
        m = airc[pair]
        assert m.needs_review and m.note and pair[0].split(":")[1].replace("-", " ") in m.note
    # Suspected source errors are in doubt too; ordinary pairs are not.
    assert airc[("nist-ai-rmf:MAP-1.4", "iso-42001:A.2.2")].needs_review
    assert not airc[("nist-ai-rmf:GOVERN-1.1", "iso-42001:4.1")].needs_review
    assert len(airc) == 280


def test_editorial_edge_manage_4_3_to_a_8_4_has_its_own_source(graph: ControlGraph) -> None:
    cws = {c.id: c for c in graph.crosswalks()}
    editorial = cws["nist-ai-rmf-to-iso-42001-editorial"]
    (edge,) = editorial.mappings
    assert (edge.source, edge.target, edge.relation) == ("nist-ai-rmf:MANAGE-4.3", "iso-42001:A.8.4", "intersect")
    assert edge.note and "unreviewed" in edge.flags and not editorial.info.reviewed
    assert editorial.source.publisher == "Assure team" and editorial.source.title != cws["nist-ai-rmf-to-iso-42001"].source.title
    assert ("nist-ai-rmf:MANAGE-4.3", "iso-42001:A.8.4") not in {
        (m.source, m.target) for m in cws["nist-ai-rmf-to-iso-42001"].mappings
    }
    links = graph.crosswalk("nist-ai-rmf:MANAGE-4.3", "iso-42001", include_hierarchy=False)
    assert any(link.target == "iso-42001:A.8.4" and link.crosswalk == editorial.id for link in links)


def test_needs_review_without_a_rationale_is_a_load_error(write) -> None:
    path = write("cw.yaml", """\
        format: assure-crosswalk/1
        crosswalk: {id: my-cw, title: Mine}
        source: {title: Mine, licence: internal}
        mappings:
          - {from: 'nist-ai-rmf:GOVERN-1.1', to: 'iso-42001:4.1', relation: related, flags: [needs_review]}
        """)
    with pytest.raises(FrameworkLoadError, match="needs a note with the rationale"):
        validate_files([path])


def test_ai_600_1_is_a_profile_not_assessed_on_its_own(graph: ControlGraph) -> None:
    gai = graph.framework("nist-ai-600-1")
    assert not gai.assessable and gai.profile_of == "nist-ai-rmf"
    assert graph.requirements("nist-ai-600-1", assessable_only=True) == []
    # What is assessed instead: the AI RMF outcomes its actions carry out.
    targets = {m.target for m in {c.id: c for c in graph.crosswalks()}["nist-ai-600-1-to-ai-rmf"].mappings}
    assert all(graph.requirement(t).assessable for t in targets) and len(targets) == 49
    for fw in graph.frameworks():
        assert fw.assessable == bool(graph.requirements(fw.id, assessable_only=True)), fw.id


def test_a_framework_that_is_not_assessable_has_no_assessable_requirement(write) -> None:
    path = write("p.yaml", """\
        format: assure-framework/1
        framework: {id: my-profile, name: P, version: '1', assessable: false, profile_of: nist-ai-rmf}
        source: {title: P, licence: internal}
        requirements: [{id: R1, type: rule, title: One}]
        """)
    with pytest.raises(FrameworkLoadError, match="R1 is assessable, but framework my-profile is not"):
        validate_files([path])


def test_a_profile_names_a_loaded_framework(write) -> None:
    path = write("p.yaml", """\
        format: assure-framework/1
        framework: {id: my-profile, name: P, version: '1', assessable: false, profile_of: nist-csf}
        source: {title: P, licence: internal}
        requirements: [{id: R1, type: rule, title: One, assessable: false}]
        """)
    with pytest.raises(FrameworkLoadError, match="profile of 'nist-csf', which is not loaded"):
        validate_files([path])
