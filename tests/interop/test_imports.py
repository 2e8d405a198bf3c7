"""``assure frameworks import ciso-assistant|oscal``: what comes out validates and can be mapped to
controls; malformed or unsupported input is refused with where and why, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.interop.conftest import DATA

LIBRARY = DATA / "acme-ai-policy.yaml"
NIST = "urn:intuitem:risk:framework:nist-ai-rmf-1.0=nist-ai-rmf"

CONTROLS = """\
format: assure-controls/1
catalog: {id: acme-controls, name: ACME controls, version: '1'}
controls:
- id: ACME-OWNER-01
  title: Owner named in the system record
  description: The system record names an accountable owner.
  owner: Head of AI
  satisfies: [%s]
  evidence: {kind: system}
"""


def _import(run_cli: Any, *args: str) -> Any:
    return run_cli("frameworks", "import", "ciso-assistant", str(LIBRARY), "-o", "acme.yaml", *args)


def test_ciso_assistant_library_becomes_a_framework_and_a_crosswalk(run_cli: Any, tmp_path: Path) -> None:
    res = _import(run_cli, "--framework-map", NIST, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [(w["format"], w["id"], w["items"]) for w in out["written"]] == [
        ("assure-framework/1", "acme-ai-policy", 5), ("assure-crosswalk/1", "acme-ai-policy-mappings", 3)]
    assert out["skipped_mappings"] == {"not_related": 1,
                                       "framework iso27001-2022 is not loaded (map its URN to one of ours)": 1}
    fw = yaml.safe_load((tmp_path / "acme.yaml").read_text())
    reqs = {r["id"]: r for r in fw["requirements"]}
    assert list(reqs) == ["GOV", "GOV-1", "GOV-2", "node7", "TST.1"]
    assert reqs["GOV-1"]["parent"] == "GOV" and reqs["TST.1"]["parent"] == "node7"
    assert reqs["GOV-1"]["reference"] == "GOV 1" and reqs["GOV-1"]["aliases"] == ["GOV 1"]
    assert reqs["GOV-2"]["note"] == "Include the EU AI Act classification."
    assert reqs["GOV"]["assessable"] is False and "assessable" not in reqs["GOV-1"]
    assert reqs["TST.1"]["text"].startswith("Fairness is measured")
    cw = yaml.safe_load((tmp_path / "acme.crosswalk.yaml").read_text())
    assert [(m["from"], m["to"], m["relation"], m.get("confidence"), m["source_relation"]) for m in cw["mappings"]] == [
        ("acme-ai-policy:GOV-1", "nist-ai-rmf:GOVERN-2.1", "intersect", "medium", "intersect, strength 6/10"),
        ("acme-ai-policy:GOV-2", "nist-ai-rmf:GOVERN-1.1", "subset", "high", "subset, strength 9/10"),
        ("acme-ai-policy:TST.1", "nist-ai-rmf:MEASURE-2.11", "equivalent", None, "equal"),
    ]
    assert cw["mappings"][0]["note"] == "Both ask for clear ownership; the RMF asks for more."
    res = run_cli("frameworks", "validate", "acme.yaml", "acme.crosswalk.yaml")
    assert res.exit_code == 0, res.output


def test_the_imported_framework_can_be_mapped_to_controls(run_cli: Any, tmp_path: Path) -> None:
    assert _import(run_cli, "--framework-map", NIST).exit_code == 0
    (tmp_path / "controls.yaml").write_text(CONTROLS % "acme-ai-policy:GOV-1")
    res = run_cli("frameworks", "validate", "acme.yaml", "acme.crosswalk.yaml", "controls.yaml")
    assert res.exit_code == 0, res.output
    (tmp_path / "controls.yaml").write_text(CONTROLS % "acme-ai-policy:GOV")  # a grouping node
    res = run_cli("frameworks", "validate", "acme.yaml", "controls.yaml")
    assert res.exit_code == 2 and "acme-ai-policy:GOV is a section that controls cannot satisfy" in res.output
    for f in ("acme.yaml", "acme.crosswalk.yaml"):
        assert run_cli("frameworks", "load", f, "--frameworks-dir", "fw").exit_code == 0
    (tmp_path / "controls.yaml").write_text(CONTROLS % "acme-ai-policy:GOV-1")
    assert run_cli("frameworks", "load", "controls.yaml", "--frameworks-dir", "fw").exit_code == 0
    res = run_cli("controls", "list", "--framework", "acme-ai-policy", "--frameworks-dir", "fw", "--json")
    assert res.exit_code == 0 and [c["id"] for c in json.loads(res.output)] == ["ACME-OWNER-01"], res.output


def test_without_a_framework_map_only_what_resolves_is_kept(run_cli: Any, tmp_path: Path) -> None:
    res = _import(run_cli)
    assert res.exit_code == 0, res.output
    assert "3 framework nist-ai-rmf-1-0 is not loaded" in res.output
    assert (tmp_path / "acme.yaml").exists() and not (tmp_path / "acme.crosswalk.yaml").exists()


def _library(**change: Any) -> dict[str, Any]:
    doc = yaml.safe_load(LIBRARY.read_text())
    nodes = doc["objects"]["framework"]["requirement_nodes"]
    mappings = doc["objects"]["requirement_mapping_sets"][0]["requirement_mappings"]
    for where, value in change.items():
        target, key = {"node2": (nodes[2], "parent_urn"), "node3": (nodes[3], "urn"),
                       "rel": (mappings[0], "relationship"), "strength": (mappings[1], "strength_of_relationship"),
                       "assessable": (nodes[1], "assessable")}[where]
        target[key] = value
    return doc


@pytest.mark.parametrize(("content", "message"), [
    ("objects: [\n", "acme.lib.yaml:2: not valid YAML"),
    ("urn: x\nname: no objects\n", "acme.lib.yaml:1: field 'objects': expected a mapping, found nothing"),
    (_library(node2="urn:acme:nowhere"),
     "field 'objects.framework.requirement_nodes[2].parent_urn': no requirement node has urn 'urn:acme:nowhere'"),
    (_library(node3="urn:acme:risk:req_node:acme-ai-policy:gov.1"),
     ("field 'objects.framework.requirement_nodes[3].urn': urn 'urn:acme:risk:req_node:acme-ai-policy:gov.1' "
     "occurs twice")),
    (_library(rel="overlaps"), "requirement_mappings[0].relationship': unknown relationship 'overlaps'"),
    (_library(strength=11), ("requirement_mappings[1].strength_of_relationship': expected a whole number from 0 "
                            "to 10, found 11")),
    (_library(assessable="yes"), "requirement_nodes[1].assessable': expected true or false, found 'yes'"),
], ids=["not yaml", "no objects", "unknown parent", "duplicate urn", "bad relationship", "bad strength",
        "assessable not a bool"])
def test_malformed_libraries_are_refused_where_they_break(run_cli: Any, tmp_path: Path, content: Any,
                                                          message: str) -> None:
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    (tmp_path / "acme.lib.yaml").write_text(text)
    res = run_cli("frameworks", "import", "ciso-assistant", "acme.lib.yaml", "-o", "acme.yaml",
                  "--framework-map", NIST)
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output and sorted(p.name for p in tmp_path.iterdir()) == ["acme.lib.yaml"]


def test_a_located_error_names_the_line(run_cli: Any, tmp_path: Path) -> None:
    text = LIBRARY.read_text().replace("relationship: subset", "relationship: part-of")
    (tmp_path / "lib.yaml").write_text(text)
    res = run_cli("frameworks", "import", "ciso-assistant", "lib.yaml", "-o", "x.yaml", "--framework-map", NIST)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "part-of" in t)
    assert res.exit_code == 2 and f"lib.yaml:{line}: field 'objects.requirement_mapping_sets[0]" in res.output


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "c.json: not valid JSON"),
    ('{"profile": {"uuid": "x"}}', "c.json: field 'profile': an OSCAL profile, not a catalog"),
    ('{"catalog": {"uuid": "x", "metadata": {"title": "T"}}}', "field 'catalog': the catalog has no groups"),
    ('{"catalog": {"metadata": {"title": "T"}, "groups": [{"id": "g", "title": "G", "controls": [{"title": "c"}]}]}}',
     "c.json: field 'catalog.groups[0].controls[0].id': missing"),
    ('{"catalog": {"metadata": {"title": "T"}, "controls": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}}',
     "field 'catalog.controls[1].id': requirement id 'a' occurs twice"),
    ('[1, 2]', "c.json: expected an OSCAL document"),
], ids=["not json", "a profile", "empty catalog", "control without id", "duplicate id", "not an object"])
def test_malformed_catalogs_are_refused_where_they_break(run_cli: Any, tmp_path: Path, content: str,
                                                         message: str) -> None:
    (tmp_path / "c.json").write_text(content)
    res = run_cli("frameworks", "import", "oscal", "c.json", "-o", "c.yaml")
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "c.yaml").exists()


def test_a_foreign_catalog_becomes_a_framework(run_cli: Any, tmp_path: Path) -> None:
    catalog = {"catalog": {"uuid": "5c3a1f4e-0c2b-4a57-9a51-0d1f3e1e7c11", "metadata": {
        "title": "Example Controls", "version": "2.0", "last-modified": "2026-01-01T00:00:00Z",
        "oscal-version": "1.2.1"}, "groups": [{"id": "ac", "class": "family", "title": "Access Control", "controls": [
            {"id": "ac-1", "class": "SP800-53", "title": "Policy and Procedures",
             "props": [{"name": "label", "value": "AC-1"}],
             "parts": [{"id": "ac-1_smt", "name": "statement", "prose": "Develop a policy:",
                        "parts": [{"id": "ac-1_smt.a", "name": "item", "props": [{"name": "label", "value": "a."}],
                                   "prose": "for access control."}]},
                       {"id": "ac-1_gdn", "name": "guidance", "prose": "Review it yearly."}],
             "controls": [{"id": "ac-1.1", "title": "Enhancement", "props": [
                 {"name": "status", "value": "withdrawn"}]}]}]}]}}
    (tmp_path / "ex.json").write_text(json.dumps(catalog))
    res = run_cli("frameworks", "import", "oscal", "ex.json", "-o", "ex.yaml", "--id", "example")
    assert res.exit_code == 0, res.output
    reqs = {r["id"]: r for r in yaml.safe_load((tmp_path / "ex.yaml").read_text())["requirements"]}
    assert reqs["ac"] == {"id": "ac", "type": "family", "title": "Access Control", "assessable": False}
    assert reqs["ac-1"]["parent"] == "ac" and reqs["ac-1"]["reference"] == "AC-1"
    assert reqs["ac-1"]["text"] == "Develop a policy:\na. for access control."
    assert reqs["ac-1"]["note"] == "Review it yearly."
    assert reqs["ac-1.1"]["parent"] == "ac-1" and reqs["ac-1.1"]["assessable"] is False
    assert run_cli("frameworks", "validate", "ex.yaml").exit_code == 0
