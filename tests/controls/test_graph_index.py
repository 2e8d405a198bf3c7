"""The control graph's plain-Python edge index answers every node's edges in the order a
``networkx.MultiDiGraph`` did (the graph it replaced): crosswalk answers keep their order,
and an edge added again under the same key keeps its place and takes the new data."""

from __future__ import annotations

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

from controls.graph import _CONTAINS, _CTL, _MAPS, _REQ, _SATISFIES, _Edges, load_graph

_nodes = st.tuples(st.sampled_from([_REQ, _CTL]), st.sampled_from("abcd"))
_keys = st.sampled_from([_CONTAINS, _SATISFIES, (_MAPS, "x"), (_MAPS, "y")])
_edges = st.lists(st.tuples(_nodes, _nodes, _keys, st.integers(0, 3)), max_size=40)


def _both(edges: list[tuple]) -> tuple[_Edges, nx.MultiDiGraph]:
    ours, theirs = _Edges(), nx.MultiDiGraph()
    for u, v, key, value in edges:
        ours.add_edge(u, v, key=key, value=value)
        theirs.add_edge(u, v, key=key, value=value)
    return ours, theirs


def _same(ours: _Edges, theirs: nx.MultiDiGraph, node: tuple[str, str]) -> None:
    present = node in theirs
    assert list(ours.out_edges(node)) == (list(theirs.out_edges(node, keys=True, data=True)) if present else [])
    assert list(ours.in_edges(node)) == (list(theirs.in_edges(node, keys=True, data=True)) if present else [])


@given(_edges)
def test_edges_come_out_as_a_networkx_multigraph_gives_them(edges) -> None:
    ours, theirs = _both(edges)
    for node in {n for u, v, *_ in edges for n in (u, v)} | {(_REQ, "z")}:
        _same(ours, theirs, node)


def test_the_builtin_library_indexes_as_networkx_did() -> None:
    graph = load_graph()
    theirs = nx.MultiDiGraph()  # built as ControlGraph built it before
    lib = graph.library
    for node_id, req in lib.requirements.items():
        theirs.add_node((_REQ, node_id))
        if req.parent is not None:
            theirs.add_edge((_REQ, req.parent), (_REQ, node_id), key=_CONTAINS)
    for control in lib.controls.values():
        theirs.add_node((_CTL, control.id))
        for node_id in control.satisfies:
            theirs.add_edge((_CTL, control.id), (_REQ, node_id), key=_SATISFIES)
    for crosswalk in lib.crosswalks.values():
        for m in crosswalk.mappings:
            theirs.add_edge((_REQ, m.source), (_REQ, m.target), key=(_MAPS, crosswalk.id), mapping=m,
                            crosswalk=crosswalk)
    assert theirs.number_of_edges() > 100
    for node in theirs.nodes:
        _same(graph._g, theirs, node)
