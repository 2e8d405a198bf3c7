"""``assure frameworks …``, ``assure controls …`` and ``assure map``.

These commands read the framework library (built-in YAML merged with the user
frameworks directory) and print it; none needs the database. Loading,
validation, applicability and graph queries live in :mod:`frameworks` and
:mod:`controls.graph`; this module only parses options and formats output.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cli.options import json_option
from cli.output import echo_json, echo_table
from frameworks import DEFAULT_USER_DIR

if TYPE_CHECKING:
    from controls.graph import ControlGraph, CrosswalkLink
    from frameworks.library import Framework, Requirement
    from frameworks.schema import (
        AllOf,
        AnyOf,
        Applicability,
        Control,
        EvidenceRequirement,
    )

F = TypeVar("F", bound=Callable[..., Any])

FRAMEWORKS_DIR_ENV = "ASSURE_FRAMEWORKS_DIR"


def user_frameworks_dir() -> Path:
    """The user frameworks directory: ``$ASSURE_FRAMEWORKS_DIR`` or ``.assure/frameworks``.

    For commands outside this module that need the merged library.
    """
    return Path(os.environ.get(FRAMEWORKS_DIR_ENV) or DEFAULT_USER_DIR)


def frameworks_dir_option(fn: F) -> F:
    """``--frameworks-dir DIR``: where user frameworks and controls live."""
    return click.option(  # type: ignore[return-value]
        "--frameworks-dir",
        "frameworks_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=FRAMEWORKS_DIR_ENV,
        default=DEFAULT_USER_DIR,
        show_default=True,
        help=f"User frameworks directory (env {FRAMEWORKS_DIR_ENV}); its YAML files add to, "
        "or replace by id, the built-in frameworks, crosswalks and controls.",
    )(fn)


def _graph(frameworks_dir: Path) -> ControlGraph:
    # Imported here so that `assure --help` and ledger commands do not pay for networkx.
    from controls.graph import load_graph

    return load_graph(user_dir=frameworks_dir)


# --- formatting helpers (presentation only) -----------------------------------


def _requirement_json(req: Requirement) -> dict[str, Any]:
    data = {"node_id": req.node_id, "framework": req.framework, "parent": req.parent}
    data |= req.spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    data["assessable"] = req.assessable
    return data


def _link_json(graph: ControlGraph, link: CrosswalkLink) -> dict[str, Any]:
    data = asdict(link)
    data["target_title"] = graph.requirement(link.target).display_title
    return data


def _dates(dates: dict[str, Any] | None) -> str:
    if dates is None:
        return "not in the original act"
    return ", ".join(f"{k} {v}" for k, v in dates.items())


def _applicability_lines(rule: Applicability) -> list[str]:
    lines = [
        f"  kind:          {rule.kind}{'' if rule.binding else ' (binds no operator)'}",
        f"  actors:        {', '.join(rule.actors)}",
        f"  systems:       {', '.join(rule.scope)}",
        f"  applies from:  {_dates(dict(rule.applies_from))}",
        f"  originally:    {_dates(dict(rule.original_applies_from) if rule.original_applies_from else None)}",
    ]
    if rule.applies_until:
        lines.append(f"  until:         {rule.applies_until}")
    lines += [
        f"  placed on market before {t.placed_before}: from {t.applies_from} ({t.basis})"
        for t in rule.transitional
    ]
    if rule.condition:
        lines.append(f"  condition:     {rule.condition.text} [fact: {rule.condition.fact}]")
    if rule.basis:
        lines.append(f"  basis:         {rule.basis}")
    return lines


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)


def _rule_lines(rule: EvidenceRequirement | AllOf | AnyOf, depth: int = 1) -> list[str]:
    from frameworks.schema import AllOf, AnyOf

    pad = "  " * depth
    if isinstance(rule, (AllOf, AnyOf)):
        name, children = ("all of", rule.all_of) if isinstance(rule, AllOf) else ("any of", rule.any_of)
        return [f"{pad}{name}:"] + [line for r in children for line in _rule_lines(r, depth + 1)]
    parts = [rule.kind]
    parts += [f"{k}={v}" for k, v in rule.filters.items()]
    if rule.max_age_days:
        parts.append(f"max age {rule.max_age_days}d")
    if rule.binds_model_version:
        parts.append("current model version")
    if rule.explicit:
        parts.append("must name the control")
    if rule.automated:
        parts.append("automated")
    line = f"{pad}- " + ", ".join(parts)
    return [line] + ([f"{pad}  {rule.description}"] if rule.description else [])


def _applies_to(control: Control) -> str:
    a = control.applies_to
    parts = [
        f"{label}: {', '.join(values)}"
        for label, values in (("tiers", a.risk_tiers), ("EU roles", a.eu_roles), ("EU classes", a.eu_classes))
        if values
    ]
    parts += [f"{name}: {', '.join(map(str, v)) if isinstance(v, list) else str(v).lower()}"
              for name, v in a.facts.items()]
    return "; ".join(parts) or "all systems"


# --- assure frameworks -----------------------------------------------------------


@click.group("frameworks")
def frameworks_group() -> None:
    """Framework definitions: NIST AI RMF, NIST AI 600-1, ISO/IEC 42001, EU AI Act, yours.

    Built-in definitions ship with Assure; YAML files in the user frameworks
    directory (--frameworks-dir, default .assure/frameworks) add frameworks,
    crosswalks and controls, or replace a built-in one with the same id.
    """


@frameworks_group.command("list")
@frameworks_dir_option
@json_option
def frameworks_list(frameworks_dir: Path, as_json: bool) -> None:
    """List frameworks with version, requirement counts and content hash.

    "assessable" counts the requirements controls must satisfy (e.g. the 72 AI
    RMF subcategories); "nodes" also counts grouping nodes (functions, clauses,
    articles) and guidance such as the AI 600-1 suggested actions. With --json
    the assessable count is "requirements".
    """
    graph = _graph(frameworks_dir)
    rows = [
        {
            "id": fw.id,
            "name": fw.info.name,
            "version": fw.info.version,
            "requirements": sum(r.assessable for r in fw.requirements),
            "nodes": len(fw.requirements),
            "origin": fw.file.origin,
            "file": fw.file.name,
            "sha256": fw.sha256,
            "licence": fw.source.licence,
        }
        for fw in graph.frameworks()
    ]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["id", "version", "assessable", "nodes", "origin", "sha256", "name"],
        [[r["id"], r["version"], r["requirements"], r["nodes"], r["origin"], r["sha256"][:12], r["name"]] for r in rows],
    )


@frameworks_group.command("show")
@click.argument("framework")
@click.argument("req_id", required=False)
@frameworks_dir_option
@json_option
def frameworks_show(framework: str, req_id: str | None, frameworks_dir: Path, as_json: bool) -> None:
    """Show a framework's hierarchy, or one requirement with its controls and crosswalks.

    REQ_ID may be the id (GOVERN-1.1, A.6.2.4, Art-9.2) or an alias the framework
    declares (GOVERN 1.1, GV-1.1, "Art 9(2)").
    """
    graph = _graph(frameworks_dir)
    fw = graph.framework(framework)
    if req_id is None:
        _show_framework(graph, fw, as_json)
    else:
        _show_requirement(graph, graph.requirement(req_id, framework=framework), as_json)


def _show_framework(graph: ControlGraph, fw: Framework, as_json: bool) -> None:
    if as_json:
        echo_json(
            {
                "framework": fw.info.model_dump(mode="json", exclude_none=True),
                "source": fw.source.model_dump(mode="json", exclude_none=True),
                "sha256": fw.sha256,
                "requirements": [_requirement_json(r) for r in fw.requirements],
            }
        )
        return
    click.echo(f"{fw.info.name} ({fw.id}, version {fw.info.version})")
    click.echo(f"source: {fw.source.title}")
    click.echo(f"licence: {fw.source.licence}")
    if fw.source.attribution:
        click.echo(f"attribution: {fw.source.attribution}")
    click.echo(f"sha256: {fw.sha256}")
    click.echo("(· = grouping node or provision that binds no operator: not assessable)")
    click.echo("")
    depth: dict[str, int] = {}
    for req in fw.requirements:
        depth[req.node_id] = depth[req.parent] + 1 if req.parent in depth else 0
        mark = "" if req.assessable else "  ·"
        click.echo(f"{'  ' * depth[req.node_id]}{req.id}  {req.display_title}{mark}")


def _show_requirement(graph: ControlGraph, req: Requirement, as_json: bool) -> None:
    controls = graph.controls_for(req.node_id)
    links = graph.crosswalk(req.node_id)
    children = graph.children(req.node_id)
    if as_json:
        echo_json(
            _requirement_json(req)
            | {
                "children": [c.node_id for c in children],
                "controls": [{"id": c.id, "title": c.title} for c in controls],
                "crosswalks": [_link_json(graph, link) for link in links],
            }
        )
        return
    click.echo(f"{req.node_id}  ({req.type}{'' if req.assessable else ', not assessable'})")
    for label, value in (("title", req.title), ("reference", req.spec.reference)):
        if value:
            click.echo(f"{label}: {value}")
    if req.parent:
        click.echo(f"parent: {req.parent}  {graph.requirement(req.parent).display_title}")
    for label, value in (
        ("text", req.text),
        ("summary (our paraphrase)", req.summary),
        ("text as adopted", req.spec.text_original),
    ):
        if value:
            click.echo(f"{label}:")
            click.echo(_wrap(value))
    if req.applicability:
        click.echo("applicability:")
        for line in _applicability_lines(req.applicability):
            click.echo(line)
    if req.amendment:
        a = req.amendment
        click.echo(f"amended: {a.status} by {a.by}" + (f", {a.item}" if a.item else ""))
    if children:
        click.echo("children:")
        for c in children:
            click.echo(f"  {c.node_id}  {c.display_title}")
    click.echo("controls:" if controls else "controls: (none)")
    for c in controls:
        click.echo(f"  {c.id}  {c.title}")
    click.echo("crosswalks:" if links else "crosswalks: (none)")
    _echo_links(graph, links)


def _echo_links(graph: ControlGraph, links: list[CrosswalkLink]) -> None:
    for link in links:
        extras = [x for x in (link.confidence and f"confidence {link.confidence}", *link.flags) if x]
        if link.via_hierarchy:
            extras.append(f"via {link.requirement}")
        tail = f"  [{', '.join(extras)}]" if extras else ""
        click.echo(
            f"  {link.target}  {link.relation}  {graph.requirement(link.target).display_title}"
            f"  ({link.crosswalk}){tail}"
        )


@frameworks_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@frameworks_dir_option
def frameworks_validate(paths: tuple[Path, ...], frameworks_dir: Path) -> None:
    """Check framework, crosswalk or controls files; exit 0 if valid, 2 with located errors.

    Files are checked together with the built-ins and the user frameworks
    directory, so references to requirements of other frameworks resolve.
    Every problem is reported as FILE:LINE: PATH: MESSAGE.
    """
    from frameworks.loader import validate_files

    library = validate_files(paths, user_dir=frameworks_dir)
    by_path = {f.path.resolve(): f for f in library.files}
    for path in paths:
        source = by_path.get(path.resolve())
        what = "superseded by another file with the same id" if source is None else "ok"
        click.echo(f"{path}: {what}")


@frameworks_group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@frameworks_dir_option
def frameworks_load(path: Path, frameworks_dir: Path) -> None:
    """Validate a framework, crosswalk or controls file and copy it into the frameworks directory.

    A file with the same name there is replaced. Every command that reads the
    library then sees it (a file whose id equals a built-in one replaces it).
    """
    from frameworks.loader import install_file

    target = install_file(path, user_dir=frameworks_dir)
    click.echo(f"loaded {path} as {target}")


@frameworks_group.command("graph")
@click.option("--format", "fmt", type=click.Choice(["graphml", "json"]), default="graphml", show_default=True,
              help="GraphML (yEd, Gephi, Cytoscape) or networkx node-link JSON.")
@click.option("--framework", "frameworks", multiple=True, metavar="FRAMEWORK",
              help="Only this framework's requirements and what touches them (repeatable; default: all).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
@frameworks_dir_option
def frameworks_graph(fmt: str, frameworks: tuple[str, ...], output: Path | None, frameworks_dir: Path) -> None:
    """Export the control graph: requirements, controls and crosswalk mappings.

    Nodes are requirements (eu-ai-act:Art-9.2) and controls (control:EU-CLASS-01);
    edges are contains (parent to child), satisfies (control to requirement) and
    maps (a crosswalk mapping, with its relation, crosswalk and review status).
    """
    from controls.graph_export import export
    from ledger.output_file import atomic_write

    data = export(_graph(frameworks_dir), fmt, frameworks)  # type: ignore[arg-type]
    if output is None:
        click.echo(data.decode(), nl=False)
        return
    atomic_write(output, data)
    click.echo(f"wrote {output} ({len(data):,} bytes)", err=True)


@frameworks_group.command("schema")
def frameworks_schema() -> None:
    """Print the JSON Schema of framework, crosswalk and controls files."""
    from frameworks.schema import json_schema

    echo_json(json_schema())


# --- assure controls -------------------------------------------------------------


@click.group("controls")
def controls_group() -> None:
    """Internal controls: what each satisfies and what evidence proves it."""


@controls_group.command("list")
@click.option("--framework", "framework", default=None, help="Only controls mapped to this framework.")
@frameworks_dir_option
@json_option
def controls_list(framework: str | None, frameworks_dir: Path, as_json: bool) -> None:
    """List controls with owner, scope and how many requirements each satisfies."""
    graph = _graph(frameworks_dir)
    rows = [
        {
            "id": c.id,
            "title": c.title,
            "owner": c.owner,
            "applies_to": c.applies_to.model_dump(),
            "requirements": [r.node_id for r in graph.requirements_for(c.id, framework)],
        }
        for c in graph.controls(framework)
    ]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["id", "requirements", "owner", "title"],
        [[r["id"], len(r["requirements"]), r["owner"], r["title"]] for r in rows],
    )


@controls_group.command("show")
@click.argument("control_id")
@frameworks_dir_option
@json_option
def controls_show(control_id: str, frameworks_dir: Path, as_json: bool) -> None:
    """Show a control: description, owner, scope, evidence rule and requirements served."""
    graph = _graph(frameworks_dir)
    control = graph.control(control_id)
    reqs = graph.requirements_for(control.id)
    if as_json:
        echo_json(
            control.model_dump(mode="json", exclude_none=True)
            | {"requirements": [{"node_id": r.node_id, "title": r.display_title} for r in reqs]}
        )
        return
    click.echo(f"{control.id}  {control.title}")
    click.echo(f"owner: {control.owner}")
    click.echo(f"type: {control.type}" + (f", {control.function}" if control.function else ""))
    click.echo(f"applies to: {_applies_to(control)}")
    click.echo("description:")
    click.echo(_wrap(control.description))
    click.echo("evidence:")
    for line in _rule_lines(control.evidence):
        click.echo(line)
    if control.reporting_deadlines:
        click.echo(f"reporting deadlines: {control.reporting_deadlines} (each incident from its own dates)")
    click.echo(f"satisfies ({len(reqs)}):")
    for r in reqs:
        click.echo(f"  {r.node_id}  {r.display_title}")


# --- assure map --------------------------------------------------------------------


@click.command("map")
@click.argument("req_id")
@click.option("--to", "to_framework", default=None, metavar="FRAMEWORK", help="Target framework (default: all others).")
@click.option("--direct", is_flag=True, help="Only mappings on REQ_ID itself, not on its parents or children.")
@frameworks_dir_option
@json_option
def map_cmd(req_id: str, to_framework: str | None, direct: bool, frameworks_dir: Path, as_json: bool) -> None:
    """Crosswalk look-up: requirements of another framework related to REQ_ID.

    REQ_ID is a global id (nist-ai-rmf:GOVERN-1.1, eu-ai-act:Art-9.2) or an
    alias (eu-ai-act:"Art 9(2)"). Each answer gives the relation (equivalent,
    subset, superset, intersect, related), the crosswalk it comes from, and its
    flags (unreviewed, suspected_source_error). Mappings found on a parent or
    child of REQ_ID are marked "via".
    """
    graph = _graph(frameworks_dir)
    req = graph.requirement(req_id)
    links = graph.crosswalk(req.node_id, to_framework, include_hierarchy=not direct)
    if as_json:
        echo_json(
            {
                "requirement": req.node_id,
                "to": to_framework,
                "links": [_link_json(graph, link) for link in links],
            }
        )
        return
    target = to_framework or "other frameworks"
    click.echo(f"{req.node_id}  {req.display_title}")
    click.echo(f"-> {target}: {len(links)} mapping{'s' if len(links) != 1 else ''}")
    _echo_links(graph, links)
    sources = {link.crosswalk: link for link in links}
    if sources:
        click.echo("sources:")
        for cw in sources:
            crosswalk = graph.library.crosswalks[cw]
            status = "" if crosswalk.info.reviewed else " (UNREVIEWED)"
            click.echo(f"  {cw}: {crosswalk.source.title}{status}; licence: {crosswalk.source.licence}")


def _add_import_group() -> None:
    # The import commands live with the other interop commands; their module imports nothing heavy.
    from cli.import_cmds import import_group

    frameworks_group.add_command(import_group)


_add_import_group()

COMMANDS: list[click.Command] = [frameworks_group, controls_group, map_cmd]
"""``assure frameworks …``, ``assure controls …`` and ``assure map``."""
