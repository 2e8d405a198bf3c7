"""The control graph: requirements, internal controls and crosswalk edges in one graph.

:class:`ControlGraph` holds a directed multigraph with three kinds of edge:

* ``contains``: parent requirement -> child requirement (framework hierarchy);
* ``satisfies``: control -> requirement (from the control catalogs);
* ``maps``: requirement -> requirement of another framework (from crosswalks),
  carrying relation, source and flags.

Queries return library objects (:class:`~frameworks.library.Requirement`,
:class:`~frameworks.schema.Control`) and :class:`CrosswalkLink` values.
:func:`load_graph` builds the graph once per library content hash and caches it
in-process.

The queries only ever look up a node's edges (no path, cycle or centrality
analysis), so the graph is a plain-Python adjacency index (:class:`_Edges`)
rather than a networkx graph: importing networkx cost a query several bare
interpreter starts.

This module computes no coverage and reads no evidence: it answers what the
frameworks and the catalog say, not what the ledger holds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from frameworks import loader
from frameworks.applicability import Verdict, applies, assess
from frameworks.library import Crosswalk, Framework, Library, Requirement, SourceFile
from frameworks.schema import Control, CrosswalkMapping
from frameworks.vocab import INVERSE_RELATION

_REQ = "req"
_CTL = "ctl"
_CONTAINS = "contains"
_SATISFIES = "satisfies"
_MAPS = "maps"
_T = TypeVar("_T")
_MEMO_SIZE = 20_000


_Node = tuple[str, str]
_Edge = tuple[_Node, _Node, Any, dict[str, Any]]


class _Edges:
    """A directed multigraph's edges by node, iterated as ``networkx.MultiDiGraph`` does:
    a node's neighbours in the order each was first linked, then each neighbour's
    edge keys in the order they were added; adding an edge again with the same key
    updates its data in place."""

    def __init__(self) -> None:
        self._succ: dict[_Node, dict[_Node, dict[Any, dict[str, Any]]]] = {}
        self._pred: dict[_Node, dict[_Node, dict[Any, dict[str, Any]]]] = {}

    def add_edge(self, u: _Node, v: _Node, key: Any, **data: Any) -> None:
        keys = self._succ.setdefault(u, {}).setdefault(v, {})
        attrs = keys.setdefault(key, {})
        attrs.update(data)
        self._pred.setdefault(v, {}).setdefault(u, {})[key] = attrs

    def out_edges(self, u: _Node) -> Iterable[_Edge]:
        """``(u, v, key, data)`` for each edge leaving ``u``."""
        return ((u, v, k, d) for v, keys in self._succ.get(u, {}).items() for k, d in keys.items())

    def in_edges(self, v: _Node) -> Iterable[_Edge]:
        """``(u, v, key, data)`` for each edge entering ``v``."""
        return ((u, v, k, d) for u, keys in self._pred.get(v, {}).items() for k, d in keys.items())


@dataclass(frozen=True)
class CrosswalkLink:
    """One crosswalk answer: a requirement of another framework and how it relates.

    Attributes:
        requirement: the node id the mapping is attached to (the queried
            requirement, or an ancestor/descendant of it when ``via_hierarchy``).
        target: the related requirement's node id.
        relation: read from ``requirement`` to ``target`` (inverted when the
            source mapping runs the other way, e.g. subset becomes superset).
        crosswalk: id of the crosswalk it comes from.
        source: the crosswalk's title.
        reviewed: false for editorial mappings nobody has reviewed.
        confidence: high/medium/low where the source gives one.
        flags: e.g. ``suspected_source_error``, ``unreviewed``.
        note: the source's note or rationale.
        source_relation: the relation as the source named it (``implements``...).
        via: intermediaries the source names (FINOS item, source cell).
        via_hierarchy: true when the mapping is on a parent or child of the
            queried requirement rather than on it.
    """

    requirement: str
    target: str
    relation: str
    crosswalk: str
    source: str
    reviewed: bool
    confidence: str | None
    flags: tuple[str, ...]
    note: str | None
    source_relation: str | None
    via: tuple[str, ...]
    via_hierarchy: bool


class ControlGraph:
    """Requirements, controls and crosswalks of a :class:`Library` as a graph."""

    def __init__(self, library: Library):
        """Build the graph from a loaded library (use :func:`load_graph` to cache it)."""
        self.library = library
        g = _Edges()
        for node_id, req in library.requirements.items():
            if req.parent is not None:
                g.add_edge((_REQ, req.parent), (_REQ, node_id), key=_CONTAINS)
        for control in library.controls.values():
            for node_id in control.satisfies:
                g.add_edge((_CTL, control.id), (_REQ, node_id), key=_SATISFIES)
        for crosswalk in library.crosswalks.values():
            for m in crosswalk.mappings:
                g.add_edge(
                    (_REQ, m.source),
                    (_REQ, m.target),
                    key=(_MAPS, crosswalk.id),
                    mapping=m,
                    crosswalk=crosswalk,
                )
        self._g = g
        self._answers: dict[tuple[object, ...], tuple[object, ...]] = {}

    def _memo(self, key: tuple[object, ...], compute: Callable[[], Iterable[_T]]) -> list[_T]:
        """A query's answer, computed once (the graph never changes); a new list each call."""
        hit = self._answers.get(key)
        if hit is None:
            if len(self._answers) >= _MEMO_SIZE:  # keys with dates keep coming in a long-lived process
                self._answers.clear()
            hit = self._answers[key] = tuple(compute())
        return list(hit)  # type: ignore[arg-type]

    # --- identity and hashes ------------------------------------------------

    @property
    def content_hash(self) -> str:
        """SHA-256 identifying every file the graph was built from."""
        return self.library.content_hash

    def framework_hashes(self) -> dict[str, str]:
        """SHA-256 of each framework definition file, by framework id."""
        return self.library.framework_hashes()

    def definition_files(self) -> list[SourceFile]:
        """Every definition file with its bytes and hash (for audit packages)."""
        return self.library.files

    # --- lookups ---------------------------------------------------------------

    def frameworks(self) -> list[Framework]:
        """All frameworks, in load order."""
        return list(self.library.frameworks.values())

    def framework(self, framework_id: str) -> Framework:
        """One framework. Raises NotFoundError if unknown."""
        return self.library.framework(framework_id)

    def crosswalks(self) -> list[Crosswalk]:
        """All crosswalks."""
        return list(self.library.crosswalks.values())

    def requirement(self, ref: str, *, framework: str | None = None) -> Requirement:
        """A requirement by node id or alias (see :meth:`Library.resolve`).

        Raises:
            NotFoundError: if nothing matches.
        """
        return self.library.resolve(ref, framework=framework)

    def control(self, control_id: str) -> Control:
        """A control by id. Raises NotFoundError if unknown."""
        return self.library.control(control_id)

    def requirements(
        self, framework_id: str | None = None, *, assessable_only: bool = False
    ) -> list[Requirement]:
        """Requirements of one framework (or all), in document order."""
        frameworks = [self.framework(framework_id)] if framework_id else self.frameworks()
        return self._memo(
            ("requirements", framework_id, assessable_only),
            lambda: (r for fw in frameworks for r in fw.requirements if r.assessable or not assessable_only),
        )

    def controls(self, framework_id: str | None = None) -> list[Control]:
        """Controls in catalog order; with a framework, those satisfying any of its requirements."""
        if framework_id is None:
            return list(self.library.controls.values())
        self.framework(framework_id)
        prefix = framework_id + ":"
        return [
            c
            for c in self.library.controls.values()
            if any(n.startswith(prefix) for n in c.satisfies)
        ]

    # --- hierarchy -------------------------------------------------------------

    def parent(self, node_id: str) -> Requirement | None:
        """The parent requirement, or None for a root."""
        parent = self.requirement(node_id).parent
        return self.library.requirements[parent] if parent else None

    def children(self, node_id: str) -> list[Requirement]:
        """Direct children in document order."""
        node_id = self.requirement(node_id).node_id
        return self._sorted(
            n for _, (_, n), k, _ in self._g.out_edges((_REQ, node_id)) if k == _CONTAINS
        )

    def descendants(self, node_id: str) -> list[Requirement]:
        """All requirements below a node, in document order."""
        found: list[str] = []
        stack = [node_id]
        while stack:
            kids = [r.node_id for r in self.children(stack.pop())]
            found.extend(kids)
            stack.extend(kids)
        return self._sorted(found)

    def ancestors(self, node_id: str) -> list[Requirement]:
        """Parents up to the root, nearest first."""
        out: list[Requirement] = []
        node = self.parent(node_id)
        while node is not None:
            out.append(node)
            node = self.parent(node.node_id)
        return out

    # --- controls <-> requirements ---------------------------------------------

    def controls_for(
        self,
        node_id: str,
        *,
        include_descendants: bool = False,
        risk_tier: str | None = None,
        eu_role: str | Collection[str] | None = None,
        eu_class: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> list[Control]:
        """Controls that satisfy a requirement directly, in catalog order.

        Args:
            node_id: the requirement's node id.
            include_descendants: also controls satisfying its children (useful
                for an article or a category).
            risk_tier: if given, only controls whose ``applies_to`` admits it;
            eu_role: likewise for the EU role;
            eu_class: likewise for the EU class;
            facts: likewise for the system facts stated (one left out matches).
        """
        key = ("controls_for", node_id, include_descendants, risk_tier,
               eu_role if isinstance(eu_role, str) or eu_role is None else tuple(sorted(eu_role)), eu_class,
               tuple(sorted((facts or {}).items())))
        return self._memo(key, lambda: self._controls_for(node_id, include_descendants, risk_tier, eu_role, eu_class,
                                                          facts))

    def _controls_for(
        self, node_id: str, include_descendants: bool, risk_tier: str | None, eu_role: str | Collection[str] | None,
        eu_class: str | None, facts: Mapping[str, Any] | None,
    ) -> list[Control]:
        node_id = self.requirement(node_id).node_id
        nodes = [node_id]
        if include_descendants:
            nodes += [r.node_id for r in self.descendants(node_id)]
        ids = {
            c
            for n in nodes
            for (_, c), _, k, _ in self._g.in_edges((_REQ, n))
            if k == _SATISFIES
        }
        return [
            c
            for c in self.library.controls.values()
            if c.id in ids
            and c.applies_to.matches(risk_tier=risk_tier, eu_role=eu_role, eu_class=eu_class, facts=facts)
        ]

    def requirements_for(self, control_id: str, framework_id: str | None = None) -> list[Requirement]:
        """Requirements a control satisfies (optionally of one framework), in document order."""
        control = self.control(control_id)
        if framework_id is not None:
            self.framework(framework_id)

        return self._memo(("requirements_for", control_id, framework_id), lambda: [
            r for r in self._sorted(control.satisfies) if framework_id in (None, r.framework)])

    def unmapped_requirements(self, framework_id: str | None = None) -> list[Requirement]:
        """Assessable requirements that no control satisfies (must be none for the default catalog)."""
        return [
            r
            for r in self.requirements(framework_id, assessable_only=True)
            if not any(k == _SATISFIES for _, _, k, _ in self._g.in_edges((_REQ, r.node_id)))
        ]

    def applicable_requirements(
        self,
        framework_id: str,
        *,
        eu_class: str,
        eu_role: str,
        as_of: date,
        facts: Collection[str] | None = None,
    ) -> list[Requirement]:
        """Assessable requirements of a framework that bind such a system on ``as_of``.

        See :func:`frameworks.applicability.applies` for the rules.
        """
        key = ("applicable", framework_id, eu_class, eu_role, as_of, None if facts is None else frozenset(facts))
        return self._memo(key, lambda: (
            r
            for r in self.requirements(framework_id, assessable_only=True)
            if applies(r, eu_class=eu_class, eu_role=eu_role, as_of=as_of, facts=facts)
        ))

    def assess_requirements(
        self,
        framework_id: str,
        *,
        eu_class: str,
        eu_roles: Collection[str],
        facts: Mapping[str, Any],
        as_of: date,
        horizon_days: int | None = None,
    ) -> list[tuple[Requirement, Verdict]]:
        """Every assessable requirement of a framework with whether, and why, it binds such a system.

        See :func:`frameworks.applicability.assess`.
        """
        key = ("assess", framework_id, eu_class, tuple(sorted(eu_roles)), tuple(sorted(facts.items())), as_of,
               horizon_days)
        return self._memo(key, lambda: (
            (r, assess(r, eu_class=eu_class, eu_roles=list(eu_roles), facts=facts, as_of=as_of,
                       horizon_days=horizon_days))
            for r in self.requirements(framework_id, assessable_only=True)
        ))

    # --- crosswalks ------------------------------------------------------------

    def crosswalk(
        self,
        node_id: str,
        to_framework: str | None = None,
        *,
        include_hierarchy: bool = True,
    ) -> list[CrosswalkLink]:
        """Requirements of another framework related to a requirement.

        Mappings are read in both directions (a mapping B -> A answers a query on
        A, with its relation inverted). With ``include_hierarchy``, mappings on the
        requirement's ancestors and descendants are included and marked
        ``via_hierarchy`` (so an article-level co-reference answers for its
        paragraphs, and a paragraph mapping answers for its article).

        Args:
            node_id: the requirement asked about.
            to_framework: only targets in this framework (None = any other).
            include_hierarchy: include mappings on ancestors and descendants.

        Returns:
            Links ordered by target framework and document order, direct links first.

        Raises:
            NotFoundError: for an unknown framework.
        """
        key = ("crosswalk", node_id, to_framework, include_hierarchy)
        return self._memo(key, lambda: self._crosswalk(node_id, to_framework, include_hierarchy))

    def _crosswalk(self, node_id: str, to_framework: str | None, include_hierarchy: bool) -> list[CrosswalkLink]:
        if to_framework is not None:
            self.framework(to_framework)
        origin = self.requirement(node_id)
        node_id = origin.node_id
        nodes = [node_id]
        if include_hierarchy:
            nodes += [r.node_id for r in self.ancestors(node_id) + self.descendants(node_id)]
        links: list[CrosswalkLink] = []
        for n in nodes:
            for _, (_, target), key, data in self._g.out_edges((_REQ, n)):
                if key != _CONTAINS:
                    links.append(_link(n, target, data, inverse=False, hop=n != node_id))
            for (_, source), _, key, data in self._g.in_edges((_REQ, n)):
                if key not in (_CONTAINS, _SATISFIES):
                    links.append(_link(n, source, data, inverse=True, hop=n != node_id))
        reqs = self.library.requirements
        links = [
            link
            for link in links
            if reqs[link.target].framework != origin.framework
            and (to_framework is None or reqs[link.target].framework == to_framework)
        ]
        fw_order = {fid: i for i, fid in enumerate(self.library.frameworks)}
        return sorted(
            links,
            key=lambda link: (
                link.via_hierarchy,
                fw_order[reqs[link.target].framework],
                reqs[link.target].order,
                link.crosswalk,
            ),
        )

    # --- helpers ---------------------------------------------------------------

    def _order(self, req: Requirement) -> tuple[int, int]:
        return self._framework_order[req.framework], req.order

    @cached_property
    def _framework_order(self) -> dict[str, int]:
        return {fid: i for i, fid in enumerate(self.library.frameworks)}

    def _sorted(self, node_ids: Iterable[str]) -> list[Requirement]:
        return sorted((self.library.requirements[n] for n in node_ids), key=self._order)


def _link(node: str, other: str, data: dict[str, object], *, inverse: bool, hop: bool) -> CrosswalkLink:
    m = data["mapping"]
    cw = data["crosswalk"]
    assert isinstance(m, CrosswalkMapping) and isinstance(cw, Crosswalk)
    return CrosswalkLink(
        requirement=node,
        target=other,
        relation=INVERSE_RELATION[m.relation] if inverse else m.relation,
        crosswalk=cw.id,
        source=cw.info.title,
        reviewed=cw.info.reviewed,
        confidence=m.confidence,
        flags=tuple(m.flags),
        note=m.note,
        source_relation=m.source_relation,
        via=tuple(m.via),
        via_hierarchy=hop,
    )


_GRAPHS: dict[str, ControlGraph] = {}


def load_graph(*, user_dir: Path | None = None) -> ControlGraph:
    """Load the library (built-ins + ``user_dir``) and return its graph, cached by content hash.

    Args:
        user_dir: the user frameworks directory; None or missing = built-ins only.

    Raises:
        FrameworkLoadError: if any definition file is invalid.
    """
    library = loader.load_library(user_dir=user_dir)
    graph = _GRAPHS.get(library.content_hash)
    if graph is None:
        if len(_GRAPHS) >= 8:
            _GRAPHS.pop(next(iter(_GRAPHS)))
        graph = _GRAPHS[library.content_hash] = ControlGraph(library)
    return graph


def clear_cache() -> None:
    """Forget cached graphs and libraries, so the next :func:`load_graph` starts cold."""
    _GRAPHS.clear()
    loader.clear_cache()
