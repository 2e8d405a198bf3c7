"""``assure frameworks import oscal|ciso-assistant``: parse, make one library call, print.

Registered on the ``frameworks`` group by :mod:`cli.framework_cmds`. Nothing is
imported from :mod:`interop` until a command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.framework_cmds import frameworks_dir_option
from cli.options import json_option
from cli.output import echo_json
from cli.present import echo_safe


@click.group("import")
def import_group() -> None:
    """Turn other tools' framework definitions into framework files of ours."""


@import_group.command("oscal")
@click.argument("catalog", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The framework YAML to write.")
@click.option("--id", "framework_id", default=None, help="Framework id to give it (default: from the catalog).")
@frameworks_dir_option
@json_option
def import_oscal_cmd(catalog: Path, out: Path, framework_id: str | None, frameworks_dir: Path,
                     as_json: bool) -> None:
    """An OSCAL catalog (JSON or YAML) → a framework file of ours.

    Groups and controls become requirements with their hierarchy; statement
    parts become the text. A catalog from 'assure export oscal' comes back with
    every id and text. The file is validated as 'assure frameworks validate'
    would, and written only if it passes.
    """
    from interop.framework_yaml import write_definitions
    from interop.oscal_import import catalog_to_framework, read_document

    doc = catalog_to_framework(read_document(catalog), source=str(catalog), framework_id=framework_id)
    written = write_definitions([(out, doc)], header=f"Imported from the OSCAL catalog {catalog.name}",
                                user_dir=frameworks_dir)
    _report(written, {}, as_json)


@import_group.command("ciso-assistant")
@click.argument("library", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The framework YAML to write (the crosswalk, for a library of mappings only).")
@click.option("--crosswalk-out", "crosswalk_out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Where the mapping sets go as a crosswalk (default: OUT with .crosswalk.yaml).")
@click.option("--framework-map", "framework_map", multiple=True, metavar="URN=ID",
              help="Read a framework URN as one of our framework ids (repeatable), e.g. "
              "urn:intuitem:risk:framework:nist-ai-rmf-1.0=nist-ai-rmf.")
@frameworks_dir_option
@json_option
def import_ciso_cmd(library: Path, out: Path, crosswalk_out: Path | None, framework_map: tuple[str, ...],
                    frameworks_dir: Path, as_json: bool) -> None:
    """A CISO Assistant library (YAML) → our framework file, and its mapping sets → a crosswalk.

    Requirement nodes keep their hierarchy (parent_urn), ref_id, name and
    description; mapping sets keep each relationship and its strength. Both
    files are validated together and written only if they pass.
    """
    from frameworks.loader import load_library
    from interop.ciso_assistant import convert_library, read_library
    from interop.framework_yaml import write_definitions
    from ledger.errors import InputError

    fmap = {}
    for item in framework_map:
        urn, sep, fid = item.partition("=")
        if not sep or not urn or not fid:
            raise InputError(f"{item!r}: expected URN=ID", field="--framework-map")
        fmap[urn] = fid
    doc, where = read_library(library)
    result = convert_library(doc, where=where, library=load_library(user_dir=frameworks_dir), framework_map=fmap)
    files: list[tuple[Path, dict[str, Any]]] = []
    if result.framework is not None:
        files.append((out, result.framework))
    if result.crosswalk is not None:
        target = out if result.framework is None else (crosswalk_out or out.with_name(out.stem + ".crosswalk.yaml"))
        files.append((target, result.crosswalk))
    if not files:
        raise InputError("no mapping could be kept: " + _skipped_text(result.skipped), source=str(library))
    written = write_definitions(files, header=f"Imported from the CISO Assistant library {library.name}",
                                user_dir=frameworks_dir)
    _report(written, result.skipped, as_json)


def _skipped_text(skipped: dict[str, int]) -> str:
    return "; ".join(f"{n} {why}" for why, n in skipped.items()) or "none"


def _report(written: list[Any], skipped: dict[str, int], as_json: bool) -> None:
    if as_json:
        echo_json({"written": [w.to_json() for w in written], "skipped_mappings": skipped})
        return
    for w in written:
        what = "requirements" if w.format == "assure-framework/1" else "mappings"
        echo_safe(f"wrote {w.path}: {w.format} {w.id}, {w.items} {what}")
    if skipped:
        echo_safe(f"mappings left out: {_skipped_text(skipped)}")
    echo_safe("check and load with: assure frameworks validate FILE… ; assure frameworks load FILE")
