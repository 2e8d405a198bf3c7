"""``assure export oscal``: parse, make one library call (:mod:`interop.oscal_export`), print.

Nothing is imported from :mod:`interop` until the command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.context import AppContext, pass_app
from cli.governance_cmds import _as_of, _setup, common_options
from cli.options import json_option
from cli.output import echo_json
from cli.present import echo_safe


@click.group("export")
def export_group() -> None:
    """Write a system's assessment and the framework library in other tools' formats."""


@export_group.command("oscal")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--framework", "frameworks", multiple=True, help="Framework id (repeatable; default: all assessable).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write into (created if missing).")
@common_options
@json_option
@pass_app
def export_oscal_cmd(app: AppContext, system: str, frameworks: tuple[str, ...], out_dir: Path, as_of: str | None,
                     policy_path: Path | None, frameworks_dir: Path, as_json: bool) -> None:
    """Export OSCAL: assessment results, catalogs, the AI 600-1 profile and the crosswalks.

    Writes assessment-results.json (an observation per ledger record with its
    inclusion proof in proofs/, a finding per requirement, risks for gaps and
    exceptions), catalogs/<framework>.json, profiles/<framework>.json and
    mapping-collection.json (OSCAL 1.2.1). The same ledger and --as-of give
    the same bytes. Check the files with: python -m interop.validate DIR
    (needs compliance-trestle, in the test extra).
    """
    from interop.oscal_export import export_oscal

    graph, policy = _setup(frameworks_dir, policy_path)
    result = export_oscal(app.ledger_engine(), system, graph=graph, policy=policy, frameworks=list(frameworks),
                          as_of=_as_of(as_of), out_dir=out_dir)
    if as_json:
        echo_json(result.to_json())
        return
    c = result.counts
    echo_safe(f"wrote {len(result.files)} OSCAL files to {out_dir}: {c['observations']} observations, "
              f"{c['findings']} findings, {c['risks']} risks ({', '.join(result.frameworks)})")
    for f in result.files:
        if f.model != "proof":
            echo_safe(f"  {f.model:<19} {f.path}  sha256 {f.sha256[:16]}")




COMMANDS: list[click.Command] = [export_group]
