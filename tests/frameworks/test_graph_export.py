"""``assure frameworks graph``: the control graph a graph tool reads back as the library says."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable

import networkx as nx
from click.testing import Result

from controls.graph import load_graph

Run = Callable[..., Result]


def _read_graphml(data: bytes) -> nx.MultiDiGraph:
    return nx.read_graphml(io.BytesIO(data), force_multigraph=True)


def test_graphml_holds_every_requirement_control_and_mapping_of_the_library(run_cli: Run, tmp_path) -> None:
    out = tmp_path / "controls.graphml"
    r = run_cli("frameworks", "graph", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"<?xml")
    g = _read_graphml(out.read_bytes())
    graph = load_graph()
    requirements = graph.requirements()
    kinds = Counter(d["kind"] for _, d in g.nodes(data=True))
    assert kinds == {"requirement": len(requirements), "control": len(graph.controls())}
    edges = Counter(d["kind"] for _, _, d in g.edges(data=True))
    assert edges["contains"] == sum(r.parent is not None for r in requirements)
    assert edges["satisfies"] == sum(len(c.satisfies) for c in graph.controls())
    assert edges["maps"] == sum(len(cw.mappings) for cw in graph.crosswalks())
    # One mapping as the crosswalk states it, relation and source included.
    cw = graph.crosswalks()[0]
    m = cw.mappings[0]
    found = [d for d in g.get_edge_data(m.source, m.target).values() if d.get("crosswalk") == cw.id]
    assert found and found[0]["relation"] == m.relation and found[0]["reviewed"] == cw.info.reviewed
    control = graph.controls()[0]
    assert set(g.successors(f"control:{control.id}")) == set(control.satisfies)
    assert g.nodes["eu-ai-act:Art-9.2"]["framework"] == "eu-ai-act"


def test_one_framework_keeps_its_requirements_and_only_what_touches_them(run_cli: Run) -> None:
    r = run_cli("frameworks", "graph", "--format", "json", "--framework", "iso-42001")
    assert r.exit_code == 0, r.output
    g = nx.node_link_graph(json.loads(r.stdout), edges="edges")
    requirements = [n for n, d in g.nodes(data=True) if d["kind"] == "requirement"]
    assert requirements and all(n.startswith("iso-42001:") for n in requirements)
    assert len(requirements) == len(load_graph().requirements("iso-42001"))
    assert all(d["kind"] != "maps" for _, _, d in g.edges(data=True))  # every mapping leaves the framework
    controls = [n for n, d in g.nodes(data=True) if d["kind"] == "control"]
    assert controls and all(g.out_degree(c) > 0 for c in controls)


def test_an_unknown_framework_or_format_exits_2_and_writes_nothing(run_cli: Run, tmp_path) -> None:
    out = tmp_path / "g.graphml"
    r = run_cli("frameworks", "graph", "--framework", "nist-csf", "-o", str(out))
    assert r.exit_code == 2 and "unknown framework 'nist-csf'" in r.stderr and "Traceback" not in r.output
    assert not out.exists()
    r = run_cli("frameworks", "graph", "--format", "dot")
    assert r.exit_code == 2 and "'dot' is not one of 'graphml', 'json'" in r.stderr
