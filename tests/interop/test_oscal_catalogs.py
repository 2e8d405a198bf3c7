"""Catalogs, the AI 600-1 profile and the mapping-collection: valid OSCAL, and a catalog
read back with 'assure frameworks import oscal' keeps every id and text."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controls.graph import ControlGraph
from frameworks.library import Framework
from frameworks.loader import load_library_from_bytes
from interop.oscal_catalog import framework_catalog, framework_profile
from interop.oscal_export import library_documents, to_json_bytes
from interop.oscal_import import catalog_to_framework
from interop.oscal_mapping import RELATIONSHIPS
from interop.validate import validate_file

WHEN = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
FIELDS = ("type", "title", "text", "summary", "text_original", "note", "reference", "aliases", "tags", "assessable")


def _spec(fw: Framework) -> dict[str, dict[str, Any]]:
    """Every requirement's id → its parent and texts, as the framework file states them."""
    return {r.id: {"parent": r.parent.split(":", 1)[1] if r.parent else None}
            | {f: getattr(r.spec, f) for f in FIELDS} for r in fw.requirements}


def _imported(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    defaults = {"aliases": [], "tags": {}, "assessable": True}
    return {r["id"]: {"parent": r.get("parent")} | {f: r.get(f, defaults.get(f)) for f in FIELDS}
            for r in doc["requirements"]}


@pytest.fixture(scope="module")
def written(graph: ControlGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("library")
    for path, (_, doc) in library_documents(graph.library, when=WHEN).items():
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_bytes(to_json_bytes(doc))
    return d


@pytest.mark.parametrize("framework", ["nist-ai-rmf", "nist-ai-600-1", "iso-42001", "eu-ai-act"])
def test_catalog_round_trip_keeps_every_id_and_text(graph: ControlGraph, written: Path, framework: str,
                                                   run_cli: Any, tmp_path: Path) -> None:
    assert validate_file(written / "catalogs" / f"{framework}.json") == "catalog"
    res = run_cli("frameworks", "import", "oscal", str(written / "catalogs" / f"{framework}.json"),
                  "-o", "back.yaml")
    assert res.exit_code == 0, res.output
    back = yaml.safe_load((tmp_path / "back.yaml").read_text())
    fw = graph.framework(framework)
    assert back["framework"]["id"] == framework and back["framework"]["version"] == fw.info.version
    assert _imported(back) == _spec(fw)
    assert [r["id"] for r in back["requirements"]] == [r.id for r in fw.requirements]
    res = run_cli("frameworks", "validate", "back.yaml")
    assert res.exit_code == 0 and "back.yaml: ok" in res.output, res.output


def test_iso_catalog_has_ids_and_our_paraphrases_only(written: Path) -> None:
    text = (written / "catalogs" / "iso-42001.json").read_text()
    doc = json.loads(text)["catalog"]
    nodes, todo = [], list(doc["groups"])
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo += node.get("controls", [])
    parts = [p["name"] for n in nodes for p in n.get("parts", [])]
    assert len(nodes) == 93 and parts and set(parts) == {"summary"}  # never a statement: no ISO text
    assert {g["id"] for g in doc["groups"]} >= {"_4", "A"}  # '4' is not an OSCAL token; '_4' is


def test_eu_ai_act_dates_are_properties(written: Path, graph: ControlGraph) -> None:
    doc = json.loads((written / "catalogs" / "eu-ai-act.json").read_text())["catalog"]
    found: dict[str, list[tuple[str, str]]] = {}

    def walk(node: dict[str, Any]) -> None:
        found[node["id"]] = [(p.get("class", ""), p["value"]) for p in node.get("props", [])
                             if p["name"] == "applies-from"]
        for child in node.get("controls", []):
            walk(child)

    for g in doc["groups"]:
        walk(g)
    art9 = graph.requirement("eu-ai-act:Art-9.2")
    assert art9.applicability is not None
    assert found["Art-9.2"] == [(k, d.isoformat()) for k, d in art9.applicability.applies_from.items()]


def test_ai_600_1_is_a_profile_of_the_ai_rmf(written: Path, graph: ControlGraph) -> None:
    assert validate_file(written / "profiles" / "nist-ai-600-1.json") == "profile"
    doc = json.loads((written / "profiles" / "nist-ai-600-1.json").read_text())["profile"]
    (imp,) = doc["imports"]
    assert imp["href"] == "../catalogs/nist-ai-rmf.json"
    crosswalk = graph.library.crosswalks["nist-ai-600-1-to-ai-rmf"]
    targets = {m.target.split(":", 1)[1] for m in crosswalk.mappings}
    assert set(imp["include-controls"][0]["with-ids"]) == targets
    actions = [p["id"] for a in doc["modify"]["alters"] for add in a["adds"] for p in add["parts"]]
    assert sorted(actions) == sorted(m.source.split(":", 1)[1] for m in crosswalk.mappings)


def test_profile_of_an_unlinked_framework_is_none(graph: ControlGraph) -> None:
    assert framework_profile(graph.framework("nist-ai-600-1"), graph.framework("iso-42001"),
                             list(graph.library.crosswalks.values()), when=WHEN) is None


def test_mapping_collection_keeps_relations_and_provenance(written: Path, graph: ControlGraph) -> None:
    assert validate_file(written / "mapping-collection.json") == "mapping-collection"
    doc = json.loads((written / "mapping-collection.json").read_text())["mapping-collection"]
    maps = {(m["sources"][0]["props"][0]["value"], m["targets"][0]["props"][0]["value"]): (mapping, m)
            for mapping in doc["mappings"] for m in mapping["maps"]}
    every = [(cw, m) for cw in graph.library.crosswalks.values() for m in cw.mappings]
    assert len(maps) == len(every)
    for cw, m in every:
        mapping, item = maps[(m.source, m.target)]
        assert item["relationship"] == RELATIONSHIPS.get(m.relation, m.relation)
        props = {(p["name"], p["value"]) for p in item.get("props", [])}
        assert ("relation", m.relation) in props and {("flag", f) for f in m.flags} <= props
        assert item.get("confidence-score", {}).get("category") == m.confidence
        assert item.get("remarks") == m.note
        mprops = {(p["name"], p["value"]) for p in mapping["props"]}
        assert {("crosswalk", cw.id), ("licence", cw.source.licence)} <= mprops
        assert mapping["status"] == ("complete" if cw.info.reviewed else "draft")


_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
                min_size=1, max_size=40).filter(lambda t: t.strip() == t and t.strip())


_line = _text.map(lambda t: " ".join(t.split())).filter(bool)


@st.composite
def frameworks(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(_ids, min_size=1, max_size=12, unique_by=str.casefold))
    reqs = []
    for i, rid in enumerate(ids):
        req: dict[str, Any] = {"id": rid, "type": draw(st.sampled_from(["clause", "control", "point"]))}
        parent = draw(st.none() | st.sampled_from(ids[:i])) if i else None
        if parent:
            req["parent"] = parent
        for f in ("title", "text", "summary", "note"):
            if draw(st.booleans()):
                req[f] = draw(_text | st.just("two\nlines") | st.just("long " * 60 + "title"))
        req.setdefault("summary", "words")
        if draw(st.booleans()):
            req["assessable"] = False
        reqs.append(req)
    return {"format": "assure-framework/1",
            "framework": {"id": "random", "name": draw(_line), "version": draw(_line)},
            "source": {"title": "tests", "licence": "ours"}, "requirements": reqs}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frameworks())
def test_any_framework_comes_back_from_its_catalog(doc: dict[str, Any]) -> None:
    library = load_library_from_bytes([("random.yaml", yaml.safe_dump(doc, allow_unicode=True).encode())])
    fw = library.framework("random")
    catalog = json.loads(to_json_bytes(framework_catalog(fw, when=WHEN)))
    back = catalog_to_framework(catalog, source="random.json")
    assert _imported(back) == _spec(fw)
    assert back["framework"] | {"name": fw.info.name} == {"id": "random", "name": fw.info.name,
                                                         "version": fw.info.version}
