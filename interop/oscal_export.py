"""``assure export oscal``: write a system's assessment results and the library as OSCAL files.

The directory receives:

* ``assessment-results.json`` and ``proofs/entry-N.json`` (:mod:`interop.oscal_results`);
* ``catalogs/<framework>.json`` for every framework of the library, and
  ``profiles/<framework>.json`` for each profile framework (NIST AI 600-1 over
  the AI RMF) (:mod:`interop.oscal_catalog`);
* ``mapping-collection.json``: every crosswalk (:mod:`interop.oscal_mapping`).

Everything is built in memory first and written only when all of it is ready;
JSON is written with sorted keys and a final newline, so the same ledger, library
and as-of time give the same bytes. Nothing here needs an OSCAL library:
:mod:`interop.validate` checks the files with compliance-trestle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from controls.approvals import ApprovalPolicy
from controls.graph import ControlGraph
from frameworks.library import Library
from interop.oscal_catalog import (
    catalog_path,
    framework_catalog,
    framework_profile,
    profile_path,
)
from interop.oscal_mapping import mapping_collection
from interop.oscal_results import RESULTS_NAME, assessment_results, report_frameworks
from ledger.errors import InputError
from ledger.output_file import atomic_write_all, make_subdirectories

MAPPING_NAME = "mapping-collection.json"


@dataclass(frozen=True)
class ExportedFile:
    """One file of an export: its path in the directory, its OSCAL model (or ``proof``), its digest."""

    path: str
    model: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": self.path, "model": self.model, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class OscalExport:
    """What ``assure export oscal`` wrote."""

    directory: Path
    system: str
    as_of: dt.datetime
    frameworks: list[str]
    files: list[ExportedFile]
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {"directory": str(self.directory), "system": self.system,
                "as_of": self.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "frameworks": self.frameworks,
                "counts": self.counts, "files": [f.to_json() for f in self.files]}


def to_json_bytes(document: dict[str, Any]) -> bytes:
    """An OSCAL document as the export writes it (sorted keys, two-space indent, final newline)."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def library_documents(library: Library, *, when: dt.datetime) -> dict[str, tuple[str, dict[str, Any]]]:
    """The catalogs, profiles and mapping-collection of a library, by path: ``(model, document)``."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    crosswalks = list(library.crosswalks.values())
    for fw in library.frameworks.values():
        out[catalog_path(fw.id)] = ("catalog", framework_catalog(fw, when=when))
        base = library.frameworks.get(fw.profile_of or "")
        profile = framework_profile(fw, base, crosswalks, when=when) if base is not None else None
        if profile is not None:
            out[profile_path(fw.id)] = ("profile", profile)
    if crosswalks:
        out[MAPPING_NAME] = ("mapping-collection", mapping_collection(library, when=when))
    return out


def export_oscal(engine: Engine, system: str, *, graph: ControlGraph, policy: ApprovalPolicy,
                 frameworks: list[str] | None, as_of: dt.datetime, out_dir: Path) -> OscalExport:
    """Write the OSCAL export of ``system`` as of ``as_of`` into ``out_dir``.

    Args:
        engine: the ledger database.
        system: the AI system.
        graph: the framework library and control catalog.
        policy: the approval policy.
        frameworks: framework ids to assess (default: every assessable one).
        as_of: the moment the results describe (also every document's last-modified).
        out_dir: the directory (created if missing; files of the same names are replaced).

    Returns:
        The files written, with their SHA-256.

    Raises:
        InputError: an unknown system or framework, or ``out_dir`` is not a directory.
        IntegrityError: the stored Merkle nodes give no valid proof.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("not a directory", source=str(out_dir))
    results = assessment_results(engine, system, graph=graph, policy=policy, frameworks=frameworks, as_of=as_of)
    blobs: list[tuple[str, str, bytes]] = [(RESULTS_NAME, "assessment-results", to_json_bytes(results.document))]
    blobs += [(path, "proof", data) for path, data in sorted(results.files.items())]
    blobs += [(path, model, to_json_bytes(doc))
              for path, (model, doc) in library_documents(graph.library, when=as_of).items()]
    make_subdirectories(out_dir, [path for path, _, _ in blobs])
    atomic_write_all((out_dir / path, data) for path, _, data in blobs)
    body = results.document["assessment-results"]["results"][0]
    counts = {k: len(body.get(k) or []) for k in ("observations", "findings", "risks")}
    return OscalExport(out_dir, system, as_of, report_frameworks(results.report),
                       [ExportedFile(p, m, hashlib.sha256(d).hexdigest(), len(d)) for p, m, d in blobs], counts)
