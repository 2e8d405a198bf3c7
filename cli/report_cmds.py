"""Audit package commands: ``assure package``, ``assure verify-package``, ``assure report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.context import AppContext, pass_app
from cli.governance_cmds import _as_of, _setup, common_options
from cli.options import json_option, passphrase_option, require_key
from cli.output import echo_json
from cli.present import echo_safe
from ledger.output_file import atomic_write
from ledger.timeutil import format_timestamp


@click.command("package")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--framework", "frameworks", multiple=True, help="Framework id (repeatable; default: all assessable).")
@click.option("--key", "key_path", envvar="ASSURE_LEDGER_KEY", required=True, metavar="ADMIN_PEM",
              help="An admin key of this ledger (env ASSURE_LEDGER_KEY): signs the checkpoint and the manifest.")
@click.option("-o", "--output", "out", required=True, metavar="PACKAGE.zip", help="Where to write the package.")
@passphrase_option
@common_options
@json_option
@pass_app
def package_cmd(app: AppContext, system: str, frameworks: tuple[str, ...], key_path: str, out: str,
                passphrase_env: str | None, as_of: str | None, policy_path: Path | None, frameworks_dir: Path,
                as_json: bool) -> None:
    """Write an audit package: audit.pdf, bundle.json and a signed manifest, in one zip.

    A checkpoint is signed with the admin key at the current ledger size; every
    record of the system (and organisation-wide) received by --as-of, and every
    key event, goes into bundle.json with an inclusion proof against it. The
    same ledger and --as-of give the same bytes, apart from the manifest's
    signing time. Check it with 'assure verify-package'.
    """
    from reports.package import build_package

    key = require_key(key_path, passphrase_env, what="--key")
    graph, _ = _setup(frameworks_dir, policy_path)
    result = build_package(app.ledger_engine(), system, admin_key=key, graph=graph, policy_path=policy_path,
                           frameworks=list(frameworks), as_of=_as_of(as_of))
    atomic_write(out, result.data)
    m, cp = result.manifest, result.checkpoint
    if as_json:
        echo_json({
            "package": out, "bytes": len(result.data), "system": system, "as_of": m.as_of,
            "key_id": m.key.key_id, "origin": cp.origin,
            "checkpoint": {"size": cp.size, "root": cp.root.hex()},
            "entries": len(result.bundle.entries),
            "files": {n: {"sha256": h, "size": s} for n, (h, s) in sorted(m.files.items())},
            "coverage": [{"framework": f.framework_id, "percent_covered": f.percent, "applicable": f.applicable}
                         for f in result.report.frameworks],
        })
        return
    click.echo(f"package written: {out} ({len(result.data):,} bytes)")
    click.echo(f"  system      {system} as of {m.as_of}")
    click.echo(f"  entries     {len(result.bundle.entries)} with inclusion proofs")
    click.echo(f"  checkpoint  {cp.origin} size {cp.size} root {cp.root.hex()}")
    click.echo(f"  signed by   {m.key.key_id}")
    for f in result.report.frameworks:
        click.echo(f"  coverage    {f.framework_id} {f.percent}% of {f.applicable} applicable")


@click.command("verify-package")
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust-key", "trust_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="PUB",
              help="The ledger's public key, obtained out of band: a package signed by any other key fails.")
@click.option("--checkpoint", "checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="A signed checkpoint of this ledger obtained earlier: check the ledger only grew since.")
@json_option
def verify_package_cmd(package: Path, trust_key: Path | None, checkpoint: Path | None, as_json: bool) -> None:
    """Verify an audit package offline: no database, no network.

    Checks the manifest signature and every file's hash, every record's
    signature and signer, every inclusion proof against the signed checkpoint,
    and recomputes coverage from bundle.json to match bundle.json and audit.pdf.
    Exit 0 if everything matches; exit 1 naming each file, record or proof that
    does not.
    """
    from ledger.keys import load_public_key
    from reports.verify import verify_package

    pinned = load_public_key(trust_key) if trust_key else None
    note = checkpoint.read_text(encoding="utf-8") if checkpoint else None
    report = verify_package(package, trust_key=pinned, checkpoint_note=note)
    if as_json:
        echo_json(report.to_json())
    else:
        _print_verification(report)
    if not report.ok:
        sys.exit(1)


def _print_verification(report: Any) -> None:
    b, cp = report.bundle, report.checkpoint
    if b is not None:
        echo_safe(f"package     {b.system} as of {format_timestamp(b.as_of)} ({report.path})")
    if report.key_id:
        click.echo("signed by key (fingerprint: SHA-256 of the Ed25519 public key):")
        click.echo(f"    {report.key_id}")
        if report.pinned == report.key_id:
            click.echo("    the ledger key pinned with --trust-key")
        elif report.pinned:
            click.echo(f"    NOT the ledger key pinned with --trust-key ({report.pinned})")
        else:
            click.echo("WARNING: the key was not pinned. Anyone can re-sign a doctored package with a key of their "
                       "own: compare this fingerprint with one obtained out of band (not from this package), or "
                       "pass --trust-key PUB.", err=True)
    if cp is not None:
        echo_safe(f"checkpoint  {cp.origin} size {cp.size}")
        click.echo(f"            root {cp.root.hex()}")
    if report.files:
        echo_safe(f"files       {', '.join(report.files)}: match the signed manifest")
    click.echo(f"entries     {report.entries} verified: {report.proofs} inclusion proofs, "
               f"{report.signatures} signatures, signers trusted for their kind when they signed")
    for f in report.coverage:
        echo_safe(f"coverage    {f['framework']} {f['percent_covered']}% of {f['applicable']} applicable "
                  "(recomputed from bundle.json)")
    if report.complete_up_to is not None and report.bundle is not None:
        echo_safe(f"complete    every record of {report.bundle.system}, every organisation-wide record and every "
                  f"key event up to entry {report.complete_up_to} (scope index)")
    if report.bundle is not None:
        if report.definitions:
            click.echo("definitions not the ones this Assure ships (read them: they decide what 'covered' means):")
            for d in report.definitions:
                echo_safe(f"            {d['name']} (sha256 {d['sha256'][:16]}…): {d['why']}")
        else:
            click.echo("definitions frameworks, controls and approval policy as shipped with this Assure")
    if report.earlier:
        click.echo(f"history     consistent with {report.earlier} earlier checkpoint(s) of this ledger")
    if report.against is not None:
        click.echo(f"history     the ledger extends your checkpoint of size {report.against.size}")
    if report.ok:
        click.echo("OK: the package verifies")
        return
    cause = report.root_cause
    echo_safe(f"FAILED: {cause}", err=True)
    rest = [f for f in report.findings if f is not cause]
    if rest:
        click.echo(f"  {len(rest)} further problem(s), most following from it:", err=True)
        for f in rest:
            echo_safe(f"  - {f}", err=True)


@click.command("report")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--framework", "frameworks", multiple=True, help="Framework id (repeatable; default: all assessable).")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True,
              help="Output format.")
@click.option("-o", "--output", "out", required=True, metavar="FILE", help="Where to write the report.")
@common_options
@pass_app
def report_cmd(app: AppContext, system: str, frameworks: tuple[str, ...], fmt: str, out: str, as_of: str | None,
               policy_path: Path | None, frameworks_dir: Path) -> None:
    """Write the internal coverage report (HTML or PDF), without a bundle or signatures.

    For auditors, build a verifiable package with 'assure package' instead.
    """
    from reports.package import build_report

    graph, policy = _setup(frameworks_dir, policy_path)
    data = build_report(app.ledger_engine(), system, graph=graph, policy=policy, frameworks=list(frameworks),
                        as_of=_as_of(as_of), fmt=fmt)
    atomic_write(out, data)
    click.echo(f"report written: {out} ({len(data):,} bytes)")


COMMANDS: list[click.Command] = [package_cmd, verify_package_cmd, report_cmd]
