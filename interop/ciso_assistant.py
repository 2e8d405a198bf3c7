"""A CISO Assistant library (YAML) → a framework file of ours, and its mapping sets → a crosswalk.

A CISO Assistant library has ``urn``, ``name``, ``version``, ``copyright``,
``provider`` and ``objects``; ``objects.framework`` holds ``requirement_nodes``
(``urn``, ``ref_id``, ``parent_urn``, ``assessable``, ``name``, ``description``,
``annotation``), and ``objects.requirement_mapping_sets`` holds sets from a
``source_framework_urn`` to a ``target_framework_urn`` whose
``requirement_mappings`` relate two requirement URNs with a ``relationship``
(``equal``, ``subset``, ``superset``, ``intersect``, ``not_related``) and a
``strength_of_relationship`` (0-10).

Nodes become requirements: the ``ref_id`` (characters our ids do not allow
become ``-``; the ``ref_id`` itself is kept as reference and alias; a node
without one, or whose ``ref_id`` is taken, uses its URN's last part) with the
parent from ``parent_urn``, ``name`` as title, ``description`` as text and
``annotation`` as note; non-assessable nodes are grouping nodes. Framework
ids come from the framework URN's last part (``urn:intuitem:risk:framework:ai-act``
→ ``ai-act``) unless a ``framework_map`` names the id for a URN (e.g. one of
ours: ``nist-ai-rmf``, whose requirements are then found by the URN's last
part as an id or alias). Mappings become crosswalk mappings with our relation
(equal → equivalent), the strength in ``source_relation`` and as confidence
(8-10 high, 4-7 medium, 0-3 low), and the rationale as note; ``not_related``
pairs, and pairs whose requirements are in no framework loaded or imported,
are left out and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from frameworks import _yaml
from frameworks.library import Library
from interop.errors import Where
from ledger.errors import NotFoundError

RELATIONS = {"equal": "equivalent", "subset": "subset", "superset": "superset", "intersect": "intersect"}
_BAD_LOCAL = re.compile(r"[^A-Za-z0-9._-]+")
_BAD_FRAMEWORK = re.compile(r"[^a-z0-9-]+")


@dataclass
class CisoImport:
    """What a CISO Assistant library turns into.

    Attributes:
        framework: the framework document (``assure-framework/1``), if the library has a framework.
        crosswalk: the crosswalk document (``assure-crosswalk/1``), if any mapping was kept.
        skipped: why mappings were left out, with how many each.
    """

    framework: dict[str, Any] | None
    crosswalk: dict[str, Any] | None
    skipped: dict[str, int] = field(default_factory=dict)


def read_library(path: Path) -> tuple[Any, Where]:
    """Parse a CISO Assistant library file.

    Returns:
        The document and where errors point (the file, with lines when found).

    Raises:
        ImportFormatError: if it cannot be read or is not YAML.
    """
    data = Where(str(path)).read()
    try:
        return _yaml.parse(data), _Located(str(path), (), None, _yaml.compose(data))
    except yaml.YAMLError as e:
        raise Where(str(path), (), _yaml.error_line(e)).error(
            f"not valid YAML: {getattr(e, 'problem', None) or e}") from e


@dataclass(frozen=True)
class _Located(Where):
    """A :class:`Where` that finds the line of its path in the composed YAML."""

    node: Any = None

    def at(self, *parts: str | int) -> Where:
        path = self.path + parts
        line, _ = _yaml.locate(self.node, path)
        return _Located(self.file, path, line, self.node)


def convert_library(doc: Any, *, where: Where, library: Library,
                    framework_map: dict[str, str] | None = None) -> CisoImport:
    """Convert a parsed CISO Assistant library.

    Args:
        doc: the parsed YAML.
        where: the file, for messages.
        library: the frameworks already loaded (targets of mapping sets).
        framework_map: framework URN → our framework id, for URNs whose derived id is not wanted.

    Raises:
        ImportFormatError: naming the file, the path inside it (and line) and the reason.
    """
    top = where.mapping(doc)
    where.at("urn").text(top.get("urn"))
    objects = where.at("objects").mapping(top.get("objects"))
    fmap = dict(framework_map or {})
    fw_doc = None
    nodes_by_urn: dict[str, str] = {}
    fw_where = where.at("objects", "framework")
    fw = objects.get("framework")
    if fw is None and "frameworks" in objects:
        frameworks = where.at("objects", "frameworks").items(objects["frameworks"])
        if len(frameworks) != 1:
            raise where.at("objects", "frameworks").error(
                f"{len(frameworks)} frameworks in one library: import a library with one framework")
        fw, fw_where = frameworks[0], where.at("objects", "frameworks", 0)
    if fw is not None:
        fw_doc, nodes_by_urn = _framework(top, fw, fw_where, fmap)
    sets = objects.get("requirement_mapping_sets")
    if sets is None and "requirement_mapping_set" in objects:
        sets, sets_where = [objects["requirement_mapping_set"]], where.at("objects", "requirement_mapping_set")
    else:
        sets_where = where.at("objects", "requirement_mapping_sets")
    if fw_doc is None and sets is None:
        raise where.at("objects").error("neither a framework nor requirement_mapping_sets: nothing to import")
    result = CisoImport(fw_doc, None)
    if sets is not None:
        own = fw_doc["framework"]["id"] if fw_doc else None
        mappings = _mappings(sets_where.items(sets), sets_where, fmap, nodes_by_urn, own, library, result.skipped)
        if mappings:
            result.crosswalk = _crosswalk(top, mappings)
    return result


def framework_id(urn: str, fmap: dict[str, str]) -> str:
    """Our framework id for a CISO Assistant framework URN: the mapped one, else its last part as a slug."""
    if urn in fmap:
        return fmap[urn]
    slug = _BAD_FRAMEWORK.sub("-", urn.rsplit(":", 1)[-1].lower()).strip("-")[:64].strip("-")
    return slug or "imported"


def _local_id(text: str) -> str:
    return _BAD_LOCAL.sub("-", text.strip()).strip("._-")[:128].strip("._-")


def _framework(top: dict[str, Any], fw: Any, where: Where,
               fmap: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    fw = where.mapping(fw)
    urn = where.at("urn").text(fw.get("urn"))
    fid = framework_id(urn, fmap)
    fmap.setdefault(urn, fid)
    nodes = where.at("requirement_nodes").items(fw.get("requirement_nodes"))
    if not nodes:
        raise where.at("requirement_nodes").error("no requirement nodes")
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for i, node in enumerate(nodes):
        at = where.at("requirement_nodes", i)
        node = at.mapping(node)
        nurn = at.at("urn").text(node.get("urn"))
        if nurn.lower() in ids:
            raise at.at("urn").error(f"urn {nurn!r} occurs twice")
        ref = node.get("ref_id")
        rid = ""
        for candidate in (_local_id(str(ref)) if ref is not None else "", _local_id(nurn.rsplit(":", 1)[-1])):
            if candidate and candidate not in taken:
                rid = candidate
                break
        if not rid:
            raise at.at("urn").error(f"cannot make a unique requirement id from ref_id {ref!r} or the urn")
        taken.add(rid)
        ids[nurn.lower()] = rid
    requirements = []
    for i, node in enumerate(nodes):
        at = where.at("requirement_nodes", i)
        requirements.append(_requirement(node, at, ids))
    info = {"id": fid, "name": str(fw.get("name") or top.get("name") or fid),
            "version": str(top.get("version") or "1")}
    description = fw.get("description") or top.get("description")
    if description:
        info["description"] = str(description)
    source: dict[str, Any] = {"title": str(top.get("name") or info["name"]),
                              "licence": str(top.get("copyright") or "not stated in the library: check before reuse")}
    if top.get("provider"):
        source["publisher"] = str(top["provider"])
    notes = [f"CISO Assistant library {top['urn']}" + (f", packaged by {top['packager']}" if top.get("packager")
                                                       else "")]
    source["notes"] = notes
    doc = {"format": "assure-framework/1", "framework": info, "source": source, "requirements": requirements}
    return doc, {u: f"{fid}:{r}" for u, r in ids.items()}


def _requirement(node: dict[str, Any], at: Where, ids: dict[str, str]) -> dict[str, Any]:
    rid = ids[str(node["urn"]).lower()]
    assessable = node.get("assessable", False)
    if not isinstance(assessable, bool):
        raise at.at("assessable").error(f"expected true or false, found {assessable!r}")
    req: dict[str, Any] = {"id": rid, "type": "requirement" if assessable else "section"}
    parent = node.get("parent_urn")
    if parent is not None:
        pid = ids.get(str(parent).lower())
        if pid is None:
            raise at.at("parent_urn").error(f"no requirement node has urn {parent!r}")
        req["parent"] = pid
    for key, ours in (("name", "title"), ("description", "text"), ("annotation", "note")):
        value = node.get(key)
        if value is not None and str(value).strip():
            req[ours] = str(value).strip()
    ref = node.get("ref_id")
    if ref is not None and str(ref).strip():
        req["reference"] = str(ref).strip()
        if str(ref).strip() != rid:
            req["aliases"] = [str(ref).strip()]
    if not (req.get("title") or req.get("text")):
        req["title"] = str(ref or rid)
    if not assessable:
        req["assessable"] = False
    return req


def _mappings(sets: list[Any], where: Where, fmap: dict[str, str], own_nodes: dict[str, str], own: str | None,
              library: Library, skipped: dict[str, int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for i, raw in enumerate(sets):
        at = where.at(i)
        mset = at.mapping(raw)
        ends = {}
        for end in ("source", "target"):
            urn = at.at(f"{end}_framework_urn").text(mset.get(f"{end}_framework_urn"))
            ends[end] = framework_id(urn, fmap)
        items = at.at("requirement_mappings").items(mset.get("requirement_mappings"))
        for j, raw_m in enumerate(items):
            mat = at.at("requirement_mappings", j)
            m = mat.mapping(raw_m)
            relationship = mat.at("relationship").text(m.get("relationship"))
            if relationship == "not_related":
                skip("not_related")
                continue
            if relationship not in RELATIONS:
                raise mat.at("relationship").error(
                    f"unknown relationship {relationship!r} (one of: {', '.join([*RELATIONS, 'not_related'])})")
            strength = _strength(m, mat)
            nodes = []
            for end in ("source", "target"):
                urn = mat.at(f"{end}_requirement_urn").text(m.get(f"{end}_requirement_urn"))
                node, why = _resolve(urn, ends[end], own_nodes, own, library)
                if node is None:
                    skip(why)
                    break
                nodes.append(node)
            if len(nodes) != 2:
                continue
            if nodes[0] == nodes[1] or (nodes[0], nodes[1]) in seen:
                skip("duplicate or self mapping")
                continue
            seen.add((nodes[0], nodes[1]))
            mapping: dict[str, Any] = {"from": nodes[0], "to": nodes[1], "relation": RELATIONS[relationship]}
            mapping["source_relation"] = relationship + (f", strength {strength}/10" if strength is not None else "")
            if strength is not None:
                mapping["confidence"] = "high" if strength >= 8 else "medium" if strength >= 4 else "low"
            rationale = m.get("rationale")
            if rationale is not None and str(rationale).strip():
                mapping["note"] = str(rationale).strip()
            out.append(mapping)
    return out


def _strength(m: dict[str, Any], at: Where) -> int | None:
    key = "strength_of_relationship" if "strength_of_relationship" in m else "strength"
    value = m.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise at.at(key).error(f"expected a whole number from 0 to 10, found {value!r}")
    return value


def _resolve(urn: str, fid: str, own_nodes: dict[str, str], own: str | None,
             library: Library) -> tuple[str | None, str]:
    """Our node id for a requirement URN, or None and why it was left out."""
    if urn.lower() in own_nodes:
        return own_nodes[urn.lower()], ""
    if fid == own:
        return None, f"requirement not in {fid}"
    if fid not in library.frameworks:
        return None, f"framework {fid} is not loaded (map its URN to one of ours)"
    last = urn.rsplit(":", 1)[-1]
    try:
        return library.resolve(last, framework=fid).node_id, ""
    except NotFoundError:
        return None, f"requirement not found in {fid}"


def _crosswalk(top: dict[str, Any], mappings: list[dict[str, Any]]) -> dict[str, Any]:
    cid = framework_id(str(top["urn"]), {}) + "-mappings"
    return {
        "format": "assure-crosswalk/1",
        "crosswalk": {"id": cid[:64].strip("-"), "title": f"Mappings of the CISO Assistant library {top['urn']}",
                      "reviewed": False,
                      "relation_semantics": "CISO Assistant relationships (equal, subset, superset, intersect) "
                                            "with their strength of relationship (0-10) kept in source_relation."},
        "source": {"title": str(top.get("name") or top["urn"]),
                   "licence": str(top.get("copyright") or "not stated in the library: check before reuse"),
                   **({"publisher": str(top["provider"])} if top.get("provider") else {})},
        "mappings": mappings,
    }
