"""An OSCAL catalog → a framework file of ours (``assure-framework/1``).

Groups and controls, nested at any depth, become requirements whose ``parent``
is the group or control they sit in. A catalog Assure wrote comes back exactly
(ids, titles, texts, summaries, types, references, aliases, tags, assessable):
our own properties and parts (namespace :data:`interop.oscal_common.NS`) say
so. From any other catalog: the control id is the requirement id (characters
our ids do not allow become ``-``, the original kept as an alias), the
``label`` property the reference, the ``statement`` part (with its sub-parts,
labelled) the text, the ``guidance`` part a note; groups and withdrawn controls
are not assessable.

Not carried back: EU AI Act applicability (who, for which systems, from
when) beyond what the properties show, amendments, and vocabularies; an
imported framework applies to every system until you add them.

Only JSON (or YAML) catalogs are read; a profile, or any other OSCAL model, is
refused with what to do instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from frameworks import _yaml
from interop.errors import Where
from interop.oscal_common import NS, our_props

_LOCAL_ID_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_FRAMEWORK_ID_BAD = re.compile(r"[^a-z0-9-]+")

OTHER_MODELS = {"profile": "resolve the profile to a catalog first (e.g. 'trestle author profile-resolve')",
                "mapping-collection": "mappings are read from CISO Assistant libraries; write a crosswalk file",
                "assessment-results": "assessment results are an export, not a framework",
                "component-definition": "", "system-security-plan": "", "assessment-plan": "",
                "plan-of-action-and-milestones": ""}


def read_document(path: Path) -> Any:
    """A JSON (``.json``) or YAML document.

    Raises:
        ImportFormatError: if the file cannot be read or parsed.
    """
    where = Where(str(path))
    data = where.read()
    try:
        if path.suffix.lower() == ".json":
            return json.loads(data)
        return _yaml.parse(data)  # duplicate keys and alias bombs refused
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise where.error(f"not valid JSON: {e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise where.error(f"not valid YAML{at}: {getattr(e, 'problem', None) or e}") from e


def catalog_to_framework(doc: Any, *, source: str, framework_id: str | None = None) -> dict[str, Any]:
    """The framework document (``assure-framework/1``) of an OSCAL catalog.

    Args:
        doc: the parsed OSCAL document (``{"catalog": {...}}``).
        source: the file name, for messages.
        framework_id: the id to give the framework (default: the one our export
            recorded, else one made from the catalog's title).

    Raises:
        ImportFormatError: naming the file, the path inside it and the reason.
    """
    root = Where(source)
    if not isinstance(doc, dict):
        raise root.error("expected an OSCAL document: a JSON object with one key, 'catalog'")
    if "catalog" not in doc:
        model = next((k for k in doc if k in OTHER_MODELS), None)
        if model is not None:
            hint = OTHER_MODELS[model]
            raise root.at(model).error(f"an OSCAL {model}, not a catalog" + (f": {hint}" if hint else ""))
        raise root.error(f"no 'catalog' at the top (found: {', '.join(map(str, doc)) or 'nothing'})")
    where = root.at("catalog")
    cat = where.mapping(doc["catalog"])
    meta = where.at("metadata").mapping(cat.get("metadata"))
    title = where.at("metadata", "title").text(meta.get("title"))
    mprops = meta.get("props") or []
    fid = framework_id or next(iter(our_props(mprops, "framework-id")), None) or _framework_id(title)
    info: dict[str, Any] = {"id": fid, "name": title,
                            "version": str(meta.get("version") or "unversioned")}
    short = our_props(mprops, "short-name")
    if short:
        info["short_name"] = short[0]
    if meta.get("remarks"):
        info["description"] = str(meta["remarks"])
    if "false" in our_props(mprops, "assessable"):
        info["assessable"] = False
    if our_props(mprops, "profile-of"):
        info["profile_of"] = our_props(mprops, "profile-of")[0]
    requirements: list[dict[str, Any]] = []
    taken: set[str] = set()
    for i, group in enumerate(cat.get("groups") or []):
        _walk(group, where.at("groups", i), None, requirements, taken, is_group=True)
    for i, control in enumerate(cat.get("controls") or []):
        _walk(control, where.at("controls", i), None, requirements, taken, is_group=False)
    if not requirements:
        raise where.error("the catalog has no groups or controls")
    if all("_order" in r for r in requirements):  # our export: back in the framework file's order
        requirements.sort(key=lambda r: r["_order"])
    for r in requirements:
        r.pop("_order", None)
    return {"format": "assure-framework/1", "framework": info, "source": _source(cat, title),
            "requirements": requirements}


def _framework_id(title: str) -> str:
    slug = _FRAMEWORK_ID_BAD.sub("-", title.lower()).strip("-")[:64].strip("-")
    return slug or "imported-catalog"


def _source(cat: dict[str, Any], title: str) -> dict[str, Any]:
    """The ``source`` block: from our source resource if there is one, else the catalog's title."""
    for res in (cat.get("back-matter") or {}).get("resources") or []:
        if "framework" in our_props(res.get("props"), "source"):
            props = res.get("props")
            out: dict[str, Any] = {"title": res.get("title") or title,
                                   "licence": next(iter(our_props(props, "licence")), "not stated")}
            for name in ("publisher", "published", "attribution"):
                value = our_props(props, name)
                if value:
                    out[name] = value[0]
            links = res.get("rlinks") or []
            if links:
                out["url"] = links[0]["href"]
            if res.get("remarks"):
                out["notes"] = str(res["remarks"]).split("\n")
            return out
    return {"title": title, "licence": "not stated in the OSCAL catalog: check the publisher's terms before reuse"}


def _walk(node: Any, where: Where, parent: str | None, out: list[dict[str, Any]], taken: set[str], *,
          is_group: bool) -> None:
    node = where.mapping(node)
    oscal_id = where.at("id").text(node.get("id"))
    props = node.get("props") or []
    ours = bool(our_props(props, "id"))
    rid = our_props(props, "id")[0] if ours else _local_id(oscal_id)
    if rid in taken:
        raise where.at("id").error(f"requirement id {rid!r} occurs twice in the catalog")
    taken.add(rid)
    req: dict[str, Any] = {"id": rid, "type": _type(node, props, ours, is_group=is_group)}
    order = our_props(props, "order")
    if order and order[0].isdigit():
        req["_order"] = int(order[0])
    if parent is not None:
        req["parent"] = parent
    title = node.get("title")
    if title and not our_props(props, "title-derived"):
        req["title"] = str(title)
    texts = _texts(node.get("parts") or [], ours)
    req.update(texts)
    label = next((p["value"] for p in props if p.get("name") == "label" and not p.get("ns")), None)
    reference = our_props(props, "reference") if ours else ([label] if label else [])
    if reference:
        req["reference"] = reference[0]
    aliases = our_props(props, "alias") if ours else [a for a in (oscal_id, label) if a and a != rid]
    if aliases:
        req["aliases"] = list(dict.fromkeys(aliases))
    if (ours and "false" in our_props(props, "assessable")) or (not ours and (is_group or _withdrawn(props))):
        req["assessable"] = False
    tags: dict[str, list[str]] = {}
    for p in props:
        if p.get("ns") == NS and p.get("name") == "tag":
            tags.setdefault(p.get("class") or "tag", []).append(p["value"])
    if tags:
        req["tags"] = tags
    if not (req.get("title") or req.get("text") or req.get("summary")):
        req["title"] = oscal_id
    out.append(req)
    for key in ("groups", "controls"):
        for i, child in enumerate(node.get(key) or []):
            _walk(child, where.at(key, i), rid, out, taken, is_group=key == "groups")


def _local_id(oscal_id: str) -> str:
    text = _LOCAL_ID_BAD.sub("-", oscal_id).lstrip("._-")[:128]
    return text or "node"


def _type(node: dict[str, Any], props: list[dict[str, Any]], ours: bool, *, is_group: bool) -> str:
    if ours:
        return our_props(props, "type")[0] if our_props(props, "type") else ("group" if is_group else "control")
    cls = str(node.get("class") or "").lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", cls).strip("-_")
    return slug if slug and slug[0].isalpha() else ("group" if is_group else "control")


def _withdrawn(props: list[dict[str, Any]]) -> bool:
    return any(p.get("name") == "status" and p.get("value") in ("withdrawn", "Withdrawn") for p in props)


def _texts(parts: list[dict[str, Any]], ours: bool) -> dict[str, str]:
    """Texts by our field name, from the parts of a group or control."""
    out: dict[str, str] = {}
    if ours:
        names = {"statement": "text", "summary": "summary", "original-statement": "text_original", "note": "note",
                 "title": "title"}
        for p in parts:
            field = names.get(p.get("name", ""))
            if field and p.get("prose"):
                out[field] = p["prose"]
        return out
    for p in parts:
        name = p.get("name")
        prose = _prose(p).strip()
        if not prose:
            continue
        if name == "statement":
            out["text"] = prose
        elif name in ("guidance", "overview"):
            out["note"] = prose if "note" not in out else out["note"] + "\n\n" + prose
    return out


def _prose(part: dict[str, Any]) -> str:
    """A part's prose with its sub-parts' prose below it, each after its label."""
    lines = [str(part["prose"])] if part.get("prose") else []
    for sub in part.get("parts") or []:
        label = next((p["value"] for p in sub.get("props") or [] if p.get("name") == "label"), "")
        text = _prose(sub)
        if text:
            lines.append(f"{label} {text}".strip())
    return "\n".join(lines)
