"""OSCAL catalogs and profiles from the framework library.

A framework becomes a catalog: each root that is a grouping node becomes a
``group``, every other requirement a ``control`` nested under its parent, so
the hierarchy is kept. A requirement's official text is the ``statement`` part,
our paraphrase (ISO/IEC 42001: ids and our one-line summaries only, never ISO
text) a ``summary`` part in our namespace. Ids, types, references, aliases,
tags and EU AI Act applicability (actors, scope, dates) are properties; our own
``id`` property restores ids that are not OSCAL tokens (``4.1`` is written
``_4.1``). A profile framework (NIST AI 600-1, ``profile_of: nist-ai-rmf``)
also becomes an OSCAL profile of its base catalog: it selects the base controls
its crosswalk reaches and adds each suggested action to them as a part.

The conversion is read by :mod:`interop.oscal_import`; what it does not carry
back (an applicability condition's logic, amendments) is stated there.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from frameworks.library import Crosswalk, Framework, Requirement
from frameworks.schema import Applicability
from interop.oscal_common import NS, metadata, one_line, prop, stable_uuid, token


def catalog_path(framework_id: str) -> str:
    """Where a framework's catalog is written, relative to the export directory."""
    return f"catalogs/{framework_id}.json"


def profile_path(framework_id: str) -> str:
    """Where a profile framework's OSCAL profile is written, relative to the export directory."""
    return f"profiles/{framework_id}.json"


def framework_catalog(fw: Framework, *, when: dt.datetime) -> dict[str, Any]:
    """The OSCAL catalog of one framework (``{"catalog": ...}``).

    Args:
        fw: the framework.
        when: the document's ``last-modified`` time.
    """
    children: dict[str | None, list[Requirement]] = defaultdict(list)
    for r in fw.requirements:
        children[r.parent].append(r)
    groups, controls = [], []
    for root in children[None]:
        (controls if root.assessable else groups).append(_node(root, children))
    body: dict[str, Any] = {
        "uuid": stable_uuid("catalog", fw.id, fw.sha256),
        "metadata": _framework_metadata(fw, when),
    }
    if groups:
        body["groups"] = groups
    if controls:
        body["controls"] = controls
    body["back-matter"] = {"resources": [_source_resource(fw)]}
    return {"catalog": body}


def _framework_metadata(fw: Framework, when: dt.datetime) -> dict[str, Any]:
    info = fw.info
    props = [prop("framework-id", info.id), prop("source-sha256", fw.sha256), prop("licence", fw.source.licence)]
    if info.short_name:
        props.append(prop("short-name", info.short_name))
    if info.profile_of:
        props.append(prop("profile-of", info.profile_of))
    if not info.assessable:
        props.append(prop("assessable", "false"))
    return metadata(info.name, when=when, version=info.version, props=props, remarks=info.description)


def _source_resource(fw: Framework) -> dict[str, Any]:
    src = fw.source
    resource: dict[str, Any] = {"uuid": stable_uuid("source", fw.id), "title": one_line(src.title),
                                "props": [prop("source", "framework"), prop("licence", src.licence)]}
    for name in ("publisher", "published", "attribution"):
        value = getattr(src, name)
        if value:
            resource["props"].append(prop(name, value))
    if src.url:
        resource["rlinks"] = [{"href": src.url}]
    if src.notes:
        resource["remarks"] = "\n".join(src.notes)
    return resource


def _node(req: Requirement, children: dict[str | None, list[Requirement]]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": token(req.id), "class": token(req.type),
                           "title": one_line(req.title or req.display_title)}
    out["props"] = requirement_props(req)
    parts = requirement_parts(req)
    if parts:
        out["parts"] = parts
    below = [_node(c, children) for c in children.get(req.node_id, [])]
    if below:
        out["controls"] = below
    return out


def requirement_props(req: Requirement) -> list[dict[str, Any]]:
    """The properties that carry a requirement's metadata (and its exact id) in OSCAL."""
    spec = req.spec
    props = [prop("label", spec.reference or req.id, ns=False), prop("id", req.id), prop("type", req.type),
             prop("order", req.order)]
    if spec.reference:
        props.append(prop("reference", spec.reference))
    if not spec.title:
        props.append(prop("title-derived", "true"))
    if not spec.assessable:
        props.append(prop("assessable", "false"))
    props += [prop("alias", a) for a in spec.aliases]
    props += [prop("tag", v, cls=category) for category, values in spec.tags.items() for v in values]
    if spec.applicability is not None:
        props += _applicability_props(spec.applicability)
    return props


def _applicability_props(a: Applicability) -> list[dict[str, Any]]:
    """Who a provision binds, for which systems, and from when (dates by system class)."""
    props = [prop("provision-kind", a.kind)]
    props += [prop("actor", x) for x in a.actors]
    props += [prop("scope", x) for x in a.scope]
    props += [prop("applies-from", d.isoformat(), cls=k) for k, d in a.applies_from.items()]
    props += [prop("original-applies-from", d.isoformat(), cls=k)
              for k, d in (a.original_applies_from or {}).items()]
    if a.applies_until:
        props.append(prop("applies-until", a.applies_until.isoformat()))
    props += [prop("transitional-applies-from", t.applies_from.isoformat(),
                   remarks=f"for those placed on the market before {t.placed_before}") for t in a.transitional]
    if a.condition is not None and a.condition.text:
        props.append(prop("condition", a.condition.text, remarks=", ".join(a.condition.facts())))
    if a.basis:
        props.append(prop("basis", a.basis))
    return props


def requirement_parts(req: Requirement) -> list[dict[str, Any]]:
    """The texts of a requirement as parts: official text, our summary, the original text, a note
    (and the exact title, when it does not fit on the one line an OSCAL title is)."""
    spec = req.spec
    base = token(req.id)
    parts = []
    exact_title = spec.title if spec.title and one_line(spec.title) != spec.title else None
    for name, value, ours in (("title", exact_title, True), ("statement", spec.text, False),
                              ("summary", spec.summary, True),
                              ("original-statement", spec.text_original, True), ("note", spec.note, True)):
        if value:
            part: dict[str, Any] = {"id": f"{base}_{name}", "name": name, "prose": value}
            if ours:
                part["ns"] = NS
            parts.append(part)
    return parts


def framework_profile(profile: Framework, base: Framework, crosswalks: list[Crosswalk], *,
                      when: dt.datetime) -> dict[str, Any] | None:
    """The OSCAL profile of a profile framework over its base catalog (``{"profile": ...}``).

    Each requirement of ``profile`` that a crosswalk maps onto a requirement of
    ``base`` is added to that base control as a part (its text, title and tags);
    the base controls reached are the ones the profile selects. None if no
    crosswalk links the two.
    """
    by_id = {r.node_id: r for r in profile.requirements}
    added: dict[str, list[Requirement]] = defaultdict(list)
    for cw in crosswalks:
        for m in cw.mappings:
            if m.source in by_id and m.target.startswith(base.id + ":"):
                added[m.target].append(by_id[m.source])
    if not added:
        return None
    order = {r.node_id: r.order for r in base.requirements}
    targets = sorted(added, key=lambda n: order.get(n, 0))
    base_ids = [token(n.split(":", 1)[1]) for n in targets]
    alters = [{"control-id": cid, "adds": [{"position": "ending", "parts": [_action_part(a) for a in added[n]]}]}
              for cid, n in zip(base_ids, targets, strict=True)]
    body = {
        "uuid": stable_uuid("profile", profile.id, profile.sha256),
        "metadata": _framework_metadata(profile, when),
        "imports": [{"href": f"../{catalog_path(base.id)}", "include-controls": [{"with-ids": base_ids}]}],
        "merge": {"as-is": True},
        "modify": {"alters": alters},
        "back-matter": {"resources": [_source_resource(profile)]},
    }
    return {"profile": body}


def _action_part(req: Requirement) -> dict[str, Any]:
    part: dict[str, Any] = {"id": token(req.id), "name": "guidance", "ns": NS, "class": token(req.type),
                            "title": one_line(req.title or req.display_title),
                            "props": [prop("id", req.id)] + [prop("tag", v, cls=c) for c, vs in req.spec.tags.items()
                                                             for v in vs]}
    text = req.spec.text or req.spec.summary
    if text:
        part["prose"] = text
    return part

