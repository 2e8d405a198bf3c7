"""The crosswalks as one OSCAL mapping-collection (the control-mapping model).

Each crosswalk's mappings between one pair of frameworks become one
``mapping`` from the source framework's catalog to the target's (the catalogs
this export writes), one ``map`` per requirement pair. Relations are written
in the NIST IR 8477 set-theory terms OSCAL uses (``equivalent-to``,
``subset-of``, ``superset-of``, ``intersects-with``); our ``related``, which
claims no set relation, is written as ``related`` in our namespace. The
crosswalk's provenance (source, publisher, licence, attribution, review
status) is kept on each mapping, and a map keeps its confidence, flags, the
source's own relation wording and note.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from frameworks.library import Crosswalk, Library
from frameworks.schema import CrosswalkMapping
from interop.oscal_catalog import catalog_path
from interop.oscal_common import NS, metadata, one_line, prop, stable_uuid, token

RELATIONSHIPS = {"equivalent": "equivalent-to", "subset": "subset-of", "superset": "superset-of",
                 "intersect": "intersects-with"}
"""Our crosswalk relations → OSCAL mapping relationships (``related`` has none: see the module doc)."""


def mapping_collection(library: Library, *, when: dt.datetime) -> dict[str, Any]:
    """Every crosswalk of ``library`` as an OSCAL mapping-collection (``{"mapping-collection": ...}``).

    Args:
        library: the framework library.
        when: the document's ``last-modified`` time.
    """
    mappings = [m for cw in library.crosswalks.values() for m in _crosswalk_mappings(cw)]
    reviewed = all(cw.info.reviewed for cw in library.crosswalks.values())
    body = {
        "uuid": stable_uuid("mapping-collection", *sorted(cw.file.sha256 for cw in library.crosswalks.values())),
        "metadata": metadata("Assure crosswalks between AI governance frameworks", when=when,
                             version=library.content_hash[:16],
                             props=[prop("crosswalk", cw_id) for cw_id in library.crosswalks]),
        "provenance": {
            "method": "human",
            "matching-rationale": "semantic",
            "status": "complete" if reviewed else "draft",
            "mapping-description": "Requirement-to-requirement crosswalks shipped with Assure or loaded by its "
                                   "user; each mapping names its source, licence and review status.",
        },
        "mappings": mappings,
    }
    return {"mapping-collection": body}


def _crosswalk_mappings(cw: Crosswalk) -> list[dict[str, Any]]:
    pairs: dict[tuple[str, str], list[CrosswalkMapping]] = defaultdict(list)
    for m in cw.mappings:
        pairs[(m.source.split(":", 1)[0], m.target.split(":", 1)[0])].append(m)
    return [_mapping(cw, src, dst, ms) for (src, dst), ms in pairs.items()]


def _mapping(cw: Crosswalk, src: str, dst: str, maps: list[CrosswalkMapping]) -> dict[str, Any]:
    source = cw.source
    props = [prop("crosswalk", cw.id), prop("reviewed", str(cw.info.reviewed).lower()),
             prop("licence", source.licence), prop("source-title", source.title)]
    props += [prop(name, getattr(source, name)) for name in ("publisher", "published", "attribution")
              if getattr(source, name)]
    out: dict[str, Any] = {
        "uuid": stable_uuid("mapping", cw.id, src, dst),
        "method": "human",
        "matching-rationale": "semantic",
        "status": "complete" if cw.info.reviewed else "draft",
        "source-resource": {"type": "catalog", "href": catalog_path(src), "props": [prop("framework-id", src)]},
        "target-resource": {"type": "catalog", "href": catalog_path(dst), "props": [prop("framework-id", dst)]},
        "maps": [_map(cw, m) for m in maps],
        "props": props,
        "mapping-description": one_line(cw.info.title, 1000) + (
            f". {cw.info.relation_semantics}" if cw.info.relation_semantics else ""),
    }
    if source.url:
        out["links"] = [{"href": source.url, "rel": "reference", "text": one_line(source.title)}]
    return out


def _map(cw: Crosswalk, m: CrosswalkMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"uuid": stable_uuid("map", cw.id, m.source, m.target)}
    if m.relation in RELATIONSHIPS:
        out["relationship"] = RELATIONSHIPS[m.relation]
    else:
        out["ns"] = NS
        out["relationship"] = m.relation
    out["sources"] = [_item(m.source)]
    out["targets"] = [_item(m.target)]
    if m.confidence:
        out["confidence-score"] = {"category": m.confidence}
    props = [prop("relation", m.relation)]
    if m.source_relation:
        props.append(prop("source-relation", m.source_relation))
    props += [prop("flag", f) for f in m.flags]
    props += [prop("via", v) for v in m.via]
    out["props"] = props
    if m.note:
        out["remarks"] = m.note
    return out


def _item(node_id: str) -> dict[str, Any]:
    local = node_id.split(":", 1)[1]
    return {"type": "control", "id-ref": token(local), "props": [prop("requirement", node_id)]}
