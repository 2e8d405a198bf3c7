"""The control graph as a networkx graph, written as GraphML or node-link JSON.

For the people who look at the mapping in graph tools (yEd, Gephi, Cytoscape) or
analyse it with networkx: which requirements a single control carries, which
crosswalk paths join two frameworks, which controls satisfy nothing assessable.
Queries never go through here (:mod:`controls.graph` is a plain adjacency index,
and importing networkx costs a command several bare interpreter starts); this
module imports networkx when called.

Nodes are requirements (their global id, ``eu-ai-act:Art-9.2``) and controls
(``control:EU-CLASS-01``), each with ``kind``, ``label`` and, for requirements,
``framework``, ``id`` and ``type``. Edges are ``contains`` (parent to child),
``satisfies`` (control to requirement) and ``maps`` (a crosswalk mapping, source to
target, with its ``relation``, ``crosswalk``, ``reviewed`` and ``flags``). GraphML
holds no empty values, so absent attributes are left out rather than written as
empty text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal

from controls.graph import ControlGraph

if TYPE_CHECKING:
    import networkx as nx

Format = Literal["graphml", "json"]
FORMATS: tuple[Format, ...] = ("graphml", "json")


def control_node(control_id: str) -> str:
    """A control's node id in the exported graph (requirement ids hold a framework prefix)."""
    return f"control:{control_id}"


def to_networkx(graph: ControlGraph, frameworks: Collection[str] | None = None) -> nx.MultiDiGraph:
    """Requirements, controls and crosswalk mappings as a ``networkx.MultiDiGraph``.

    Args:
        graph: the control graph.
        frameworks: keep only these frameworks' requirements (and the controls and
            mappings that touch them); None keeps everything.

    Raises:
        NotFoundError: if a framework is unknown.
    """
    import networkx as nx

    wanted = {graph.framework(f).id for f in frameworks} if frameworks else None
    g = nx.MultiDiGraph()
    for req in graph.requirements():
        if wanted is None or req.framework in wanted:
            g.add_node(req.node_id, **_present(kind="requirement", framework=req.framework, id=req.id,
                                               type=req.type, label=req.display_title))
    for req in graph.requirements():
        if req.parent is not None and req.node_id in g and req.parent in g:
            g.add_edge(req.parent, req.node_id, key="contains", kind="contains")
    for control in graph.controls():
        targets = [t for t in control.satisfies if t in g]
        if not targets:
            continue
        node = control_node(control.id)
        g.add_node(node, **_present(kind="control", id=control.id, label=control.title, owner=control.owner))
        for target in targets:
            g.add_edge(node, target, key="satisfies", kind="satisfies")
    for crosswalk in graph.crosswalks():
        for m in crosswalk.mappings:
            if m.source in g and m.target in g:
                g.add_edge(m.source, m.target, key=f"maps:{crosswalk.id}", **_present(
                    kind="maps", relation=m.relation, crosswalk=crosswalk.id, reviewed=crosswalk.info.reviewed,
                    confidence=m.confidence, flags=",".join(m.flags) or None))
    return g


def export(graph: ControlGraph, fmt: Format, frameworks: Collection[str] | None = None) -> bytes:
    """The graph written as GraphML (XML) or networkx node-link JSON, as bytes.

    Raises:
        NotFoundError: if a framework is unknown.
        ValueError: if ``fmt`` is not one of :data:`FORMATS`.
    """
    import networkx as nx

    g = to_networkx(graph, frameworks)
    if fmt == "graphml":
        out = io.BytesIO()
        nx.write_graphml(g, out, encoding="utf-8")
        return out.getvalue()
    if fmt == "json":
        data = nx.node_link_data(g, edges="edges")
        return (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()
    raise ValueError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")


def _present(**attrs: Any) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None}
