"""What every OSCAL document we write shares: version, namespace, UUIDs, ids, props.

OSCAL identifiers are XML tokens (a letter or ``_`` first), UUIDs are version 4
or 5, and a property value has no leading or trailing blanks. Our ids and texts
do not always fit, so they are converted here, in one place, and the import side
(:mod:`interop.oscal_import`) reads our own properties back to restore them.

This module writes no file and imports no OSCAL library: the documents are
plain JSON-ready dicts, checked in the tests with compliance-trestle's models.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from ledger.timeutil import format_timestamp

OSCAL_VERSION = "1.2.1"
"""The OSCAL release the documents are written for (the one compliance-trestle 5.x models;
the control-mapping model first appears in the 1.2 line)."""

NS = "https://assure.example/ns/oscal"
"""Namespace of Assure's own properties and parts (``ns`` on props, parts and map relationships)."""

_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, NS)
_TOKEN = re.compile(r"[_A-Za-z][-_.A-Za-z0-9]*")
_NOT_TOKEN = re.compile(r"[^-_.A-Za-z0-9]")


def stable_uuid(*parts: object) -> str:
    """A version-5 UUID of ``parts``: the same stable ids give the same UUID on every export."""
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(str(p) for p in parts)))


def token(value: str) -> str:
    """``value`` as an OSCAL token: characters outside ``[-_.A-Za-z0-9]`` become ``_``, and a
    value that does not start with a letter gets a ``_`` in front (ISO clause ``4.1`` → ``_4.1``)."""
    text = _NOT_TOKEN.sub("_", value)
    return text if _TOKEN.fullmatch(text) else "_" + text


def one_line(text: str, limit: int = 200) -> str:
    """A title: the first line of ``text``, blanks collapsed, cut at a word within ``limit``."""
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    return words[: limit - 1].rsplit(" ", 1)[0] + "…"


def prop(name: str, value: object, *, ns: bool = True, cls: str | None = None,
         remarks: str | None = None) -> dict[str, Any]:
    """An OSCAL property (in our namespace unless ``ns`` is false); blanks around the value dropped."""
    out: dict[str, Any] = {"name": name, "value": " ".join(str(value).split()) or "-"}
    if ns:
        out["ns"] = NS
    if cls:
        out["class"] = token(cls)
    if remarks:
        out["remarks"] = remarks
    return out


def timestamp(t: dt.datetime) -> str:
    """An RFC 3339 UTC timestamp as OSCAL dates are written (``2026-10-06T10:00:00Z``)."""
    return format_timestamp(t)


def metadata(title: str, *, when: dt.datetime, version: str, props: list[dict[str, Any]] | None = None,
             remarks: str | None = None) -> dict[str, Any]:
    """The ``metadata`` block: title, last-modified, document version and OSCAL version."""
    out: dict[str, Any] = {"title": one_line(title), "last-modified": timestamp(when),
                           "version": " ".join(version.split()) or "1", "oscal-version": OSCAL_VERSION}
    if props:
        out["props"] = props
    if remarks:
        out["remarks"] = remarks
    return out


def our_props(props: list[dict[str, Any]] | None, name: str) -> list[str]:
    """Values of the properties ``name`` in our namespace, in order (what an import reads back)."""
    return [p["value"] for p in props or [] if p.get("name") == name and p.get("ns") == NS]
