"""Governance commands: coverage, gaps, gate, exceptions, systems, trace."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.context import AppContext, pass_app
from cli.framework_cmds import frameworks_dir_option
from cli.options import json_option, passphrase_option, require_key
from cli.output import echo_json, echo_table, short
from cli.present import echo_safe
from ledger.output_file import atomic_write
from ledger.timeutil import parse_as_of
from ledger.timeutil import parse_duration as _parse_duration

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ENV = "ASSURE_APPROVAL_POLICY"


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``2w``, ``12h`` → a timedelta (see :func:`ledger.timeutil.parse_duration`).

    Raises:
        InputError: for anything else.
    """
    return _parse_duration(text)


def _as_of(text: str | None) -> dt.datetime:
    return parse_as_of(text)


def as_of_option(fn: F) -> F:
    """--as-of."""
    return click.option("--as-of", "as_of", default=None, metavar="TIME",  # type: ignore[return-value]
                        help="Answer as the ledger stood then (RFC 3339 or a date; default: now).")(fn)


def policy_option(fn: F) -> F:
    """--approval-policy."""
    return click.option("--approval-policy", "policy_path", envvar=POLICY_ENV, default=None,  # type: ignore[return-value]
                        type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help=f"Approval policy YAML (env {POLICY_ENV}; default: built-in).")(fn)


def common_options(fn: F) -> F:
    """--as-of, --approval-policy, --frameworks-dir."""
    return frameworks_dir_option(policy_option(as_of_option(fn)))


def _policy(policy_path: Path | None) -> Any:
    from controls.approvals import load_policy

    return load_policy(policy_path)


def _setup(frameworks_dir: Path, policy_path: Path | None) -> tuple[Any, Any]:
    from controls.approvals import load_policy
    from controls.graph import load_graph

    return load_graph(user_dir=frameworks_dir), load_policy(policy_path)


@click.command("coverage")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--framework", "frameworks", multiple=True, help="Framework id (repeatable; default: all assessable).")
@click.option("--fail-under", type=click.FloatRange(0, 100), default=None, metavar="PCT", help="Exit 1 if any framework is below PCT percent covered.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per requirement.")
@click.option("--details/--summary", default=True, help="Per-requirement table (default) or only the summary.")
@click.option("--horizon", "horizon", default=None, metavar="365d",
              help="List obligations that start to apply within this window as 'upcoming', with their date.")
@common_options
@json_option
@pass_app
def coverage_cmd(app: AppContext, system: str, frameworks: tuple[str, ...], fail_under: float | None, as_csv: bool,
                 details: bool, horizon: str | None, as_of: str | None, policy_path: Path | None, frameworks_dir: Path,
                 as_json: bool) -> None:
    """Which obligations are covered for a system, by which evidence, and what is missing.

    Each applicable requirement is covered, excepted, partial, failing, stale or
    missing (not_applicable ones do not count). Percent covered = (covered +
    excepted) / applicable. Crosswalk inference is shown apart, never counted.
    """
    from controls import service

    if as_json and as_csv:
        raise click.UsageError("--json and --csv are two output formats: give one")
    graph, policy = _setup(frameworks_dir, policy_path)
    report = service.coverage(app.ledger_db(), system, graph=graph, policy=policy,
                              frameworks=list(frameworks), as_of=_as_of(as_of), horizon_days=_days(horizon))
    if as_json:
        echo_json(report.to_json(details=details))
    elif as_csv:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["framework", "requirement", "title", "status", "inferred", "controls", "evidence_seqs"])
        for fc in report.frameworks:
            for r in fc.requirements:
                w.writerow([fc.framework_id, r.requirement_id, r.title, r.status, r.inferred or "",
                            " ".join(f"{c.control.id}:{c.status}" for c in r.controls),
                            " ".join(str(e.seq) for e in r.evidence)])
        click.echo(out.getvalue(), nl=False)
    else:
        _print_coverage(report, details=details)
    if fail_under is not None and any(f.percent < fail_under for f in report.frameworks):
        low = ", ".join(f"{f.framework_id} {f.percent}%" for f in report.frameworks if f.percent < fail_under)
        click.echo(f"coverage below {fail_under}%: {low}", err=True)
        sys.exit(1)


def _print_coverage(report: Any, *, details: bool) -> None:
    v = report.view
    echo_safe(f"{v.system} ({v.name}) · tier {v.risk_tier} · EU {v.eu_class}/{v.eu_role} · "
              f"model {report.model_version or '-'} · as of {report.as_of:%Y-%m-%d %H:%M}Z")
    rows = []
    for f in report.frameworks:
        c = f.counts
        rows.append([f.framework_id, f"{f.percent}%", f.applicable, c["covered"], c["excepted"], c["partial"],
                     c["failing"], c["stale"], c["missing"], c["needs_review"], c["upcoming"], c["not_applicable"],
                     f"+{f.inferred_counts['covered']}/{f.inferred_counts['partial']}"])
    echo_table(["framework", "covered%", "applicable", "covered", "excepted", "partial", "failing", "stale",
                "missing", "review", "upcoming", "n/a", "inferred"], rows)
    upcoming = [r for f in report.frameworks for r in f.upcoming]
    if upcoming:
        _print_upcoming(upcoming, "the horizon")
    for r in v.pending_reclassifications:
        click.echo(f"pending: {r.describe()} (the classification above stands until then)")
    for c in v.pending_corrections:
        click.echo(f"pending: {c.action} of entry {c.target.seq} by entry {c.record.seq}: {c.reason}")
    if not details:
        return
    for f in report.frameworks:
        click.echo(f"\n{f.name} {f.version}")
        echo_table(["requirement", "status", "evidence", "title", "why"], [
            [r.requirement_id, r.status + (f" (inferred {r.inferred})" if r.inferred else ""),
             " ".join(str(e.seq) for e in r.evidence), r.title[:50], r.reason[:90]]
            for r in f.requirements if r.status != "not_applicable"
        ])


@click.command("gaps")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--framework", "frameworks", multiple=True, help="Framework id (repeatable).")
@click.option("--forecast", "window", default=None, metavar="30d", help="Also list what will lapse within this window.")
@click.option("--horizon", "horizon", default=None, metavar="365d",
              help="Also list obligations that start to apply within this window, with their date.")
@common_options
@json_option
@pass_app
def gaps_cmd(app: AppContext, system: str, frameworks: tuple[str, ...], window: str | None, horizon: str | None,
             as_of: str | None, policy_path: Path | None, frameworks_dir: Path, as_json: bool) -> None:
    """Each missing, stale, failing, partial or needs-review requirement, with why and the evidence that would close it.

    EU AI Act gaps name the fine tier they expose the organisation to (Art 99, 101).
    """
    from controls import answers

    graph, policy = _setup(frameworks_dir, policy_path)
    answer = answers.gaps(app.ledger_db(), system, graph=graph, policy=policy, frameworks=list(frameworks),
                          as_of=_as_of(as_of), forecast=parse_duration(window) if window else None,
                          horizon_days=_days(horizon))
    if as_json:
        echo_json(answer.to_json())
        return
    found, lapsing, upcoming = answer.found, answer.lapsing or [], answer.upcoming or []
    _print_gaps(found)
    if window:
        click.echo(f"\nWill lapse within {window} with no new evidence:")
        _print_gaps(lapsing)
    if horizon:
        _print_upcoming(upcoming, horizon)


def _days(window: str | None) -> int | None:
    return parse_duration(window).days if window else None


def _print_gaps(items: list[Any]) -> None:
    if not items:
        click.echo("(none)")
    for gap in items:
        data = gap.to_json()
        when = f"  (lapses {gap.lapses_on.isoformat()}: {gap.lapses_because['what']} of entry " \
               f"{gap.lapses_because['entry']})" if gap.lapses_on and gap.lapses_because else ""
        echo_safe(f"{gap.requirement}  {gap.status}{when}  {gap.title[:70]}")
        if gap.penalty is not None:
            echo_safe(f"    exposes to: {gap.penalty.summary}")
        if gap.status == "needs_review":
            echo_safe(f"    {gap.reason}")
        for c in data["to_close"]:
            echo_safe(f"    {c['control']} {c['status']}: {c['reason']}")
            echo_safe(f"      needs {c['evidence_needed']}")


def _print_upcoming(items: list[Any], horizon: str) -> None:
    click.echo(f"\nStarts to apply within {horizon}:")
    if not items:
        click.echo("(none)")
    for r in items:
        echo_safe(f"{r.applies_from.isoformat() if r.applies_from else '?'}  {r.node_id}  {r.title[:60]}  ({r.reason})")


@click.command("gate")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--model-version", "model_version", required=True, help="The version about to be released.")
@click.option("--sign", "sign_key", default=None, metavar="KEY", help="Sign the verdict (in-toto Statement in DSSE) with this key.")
@click.option("-o", "--output", "out", default="gate.intoto.json", show_default=True, metavar="FILE", help="Where --sign writes the signed verdict.")
@passphrase_option
@common_options
@json_option
@pass_app
def gate_cmd(app: AppContext, system: str, model_version: str, sign_key: str | None, out: str, passphrase_env: str | None,
             as_of: str | None, policy_path: Path | None, frameworks_dir: Path, as_json: bool) -> None:
    """Release gate for CI: exit 0 if MODEL_VERSION may ship, 1 with the reasons if not.

    Every per-release control (evidence bound to a model version) must have
    fresh, passing evidence for this version or an active exception, and the
    release approval the policy requires must exist.
    """
    from controls import service

    graph, policy = _setup(frameworks_dir, policy_path)
    engine = app.ledger_engine()
    key = require_key(sign_key, passphrase_env, what="--sign") if sign_key else None
    verdict, anchor = service.release_gate(engine, system, model_version=model_version, graph=graph, policy=policy,
                                           as_of=_as_of(as_of))
    if key is not None:
        atomic_write(out, service.sign_gate(engine, verdict, anchor=anchor, key=key).to_text().encode("utf-8"))
    if as_json:
        echo_json(verdict.to_json())
    else:
        echo_safe(f"{'PASS' if verdict.passed else 'FAIL'}: {system} {model_version}")
        for r in verdict.reasons:
            echo_safe(f"  - {r}")
        for n in verdict.notes:
            echo_safe(f"  note: {n}")
        if sign_key:
            click.echo(f"signed verdict: {out}")
    if not verdict.passed:
        sys.exit(1)


@click.command("verify-gate")
@click.argument("statement", type=click.Path(exists=True, dir_okay=False), metavar="FILE")
@click.option("--trust-key", "trust_key", required=True, type=click.Path(exists=True, dir_okay=False), metavar="PUB",
              help="The public key that must have signed the verdict (pin it out of band).")
@click.option("--checkpoint", "checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              metavar="CHECKPOINT_FILE", help="A signed checkpoint you hold: the verdict's ledger must extend it.")
@click.option("--ledger-key", "ledger_key", type=click.Path(exists=True, dir_okay=False), default=None, metavar="PUB",
              help="The key that signs the ledger's checkpoints (needed with --checkpoint).")
@json_option
def verify_gate_cmd(statement: str, trust_key: str, checkpoint: str | None, ledger_key: str | None,
                    as_json: bool) -> None:
    """Check a signed release-gate verdict (from 'assure gate --sign') offline, with no database.

    Exit 0 only if FILE is signed by the pinned key, is an Assure release-gate
    statement, its verdict is pass and (with --checkpoint) the ledger it was
    decided on extends your checkpoint; exit 1 otherwise, saying why.
    """
    from controls.gate_statement import verify_statement
    from ledger.keys import load_public_key

    check = verify_statement(
        Path(statement).read_bytes(), key=load_public_key(Path(trust_key)),
        checkpoint_note=Path(checkpoint).read_text() if checkpoint else None,
        ledger_key=load_public_key(Path(ledger_key)) if ledger_key else None,
    )
    predicate = check.statement["predicate"] if check.statement else {}
    if as_json:
        echo_json({"ok": check.ok, "passed": check.passed, "problems": check.problems,
                   "verdict": predicate.get("verdict"), "system": predicate.get("system"),
                   "model_version": predicate.get("model_version"),
                   "anchored_to": {"size": check.anchored_to.size, "root": check.anchored_to.root.hex()}
                   if check.anchored_to else None})
    else:
        for p in check.problems:
            echo_safe(f"FAILED: {p}", err=True)
        if check.ok:
            echo_safe(f"{predicate.get('verdict', '?').upper()}: {predicate.get('system')} "
                      f"{predicate.get('model_version')}, decided {predicate.get('evaluated_at')}, "
                      f"signed by {load_public_key(Path(trust_key)).key_id[:16]}…")
            for r in predicate.get("reasons", []):
                echo_safe(f"  - {r}")
            if check.anchored_to is not None:
                click.echo(f"the ledger it was decided on extends your checkpoint of size {check.anchored_to.size}")
    if not check.passed:
        sys.exit(1)


@click.command("exceptions")
@click.option("--system", default=None, help="Only this system.")
@click.option("--expiring", "window", default=None, metavar="30d", help="Only active exceptions expiring within this window.")
@click.option("--expired", is_flag=True, help="Only expired exceptions.")
@click.option("--fail-if-expiring", is_flag=True, help="Exit 1 if any listed exception is expiring (for scheduled alerts).")
@common_options
@json_option
@pass_app
def exceptions_cmd(app: AppContext, system: str | None, window: str | None, expired: bool, fail_if_expiring: bool,
                   as_of: str | None, policy_path: Path | None, frameworks_dir: Path, as_json: bool) -> None:
    """Exceptions (risk acceptances): owner, controls, compensating controls, remediation, days left."""
    from controls import answers

    policy = _policy(policy_path)  # exceptions need no framework or control graph
    horizon = parse_duration(window) if window else None
    items = answers.exceptions(app.ledger_db(), policy=policy, as_of=_as_of(as_of), system=system,
                               expiring=horizon, expired=expired)
    if as_json:
        echo_json([x.to_json() for x in items])
    else:
        echo_table(["system", "seq", "state", "days_left", "expires", "owner", "controls", "compensating", "remediation"], [
            [x.system, x.record.seq, x.state, x.days_left, f"{x.expires_at:%Y-%m-%d}", x.record.fields.get("owner"),
             ",".join(x.controls), ",".join(x.compensating_controls), (x.record.fields.get("remediation") or "")[:40]]
            for x in items
        ])
    if fail_if_expiring and horizon is not None and items:
        click.echo(f"{len(items)} exception(s) expire within {window}", err=True)
        sys.exit(1)


@click.group("systems")
def systems_group() -> None:
    """Registered AI systems."""


@systems_group.command("list")
@as_of_option
@policy_option
@json_option
@pass_app
def systems_list_cmd(app: AppContext, as_of: str | None, policy_path: Path | None, as_json: bool) -> None:
    """Every registered system: tier, EU class and role in force, current model version."""
    from controls import answers

    rows = answers.systems(app.ledger_db(), policy=_policy(policy_path), as_of=_as_of(as_of))
    if as_json:
        echo_json(rows)
        return
    echo_table(["system", "name", "owner", "tier", "eu_class", "eu_role", "model"], [
        [r["system"], r["name"], r["owner"], r["risk_tier"], r["eu_class"], r["eu_role"], r["current_model_version"]]
        for r in rows
    ])


@systems_group.command("show")
@click.argument("system")
@as_of_option
@policy_option
@json_option
@pass_app
def systems_show_cmd(app: AppContext, system: str, as_of: str | None, policy_path: Path | None, as_json: bool) -> None:
    """One system: model versions, latest evaluations per suite, approvals, pending changes."""
    from controls import service

    view = service.summary_view(app.ledger_db(), system, as_of=_as_of(as_of), policy=_policy(policy_path))
    s = service.system_summary(view)
    if as_json:
        echo_json(s)
        return
    for k in ("system", "name", "owner", "purpose", "risk_tier", "eu_class", "eu_role", "current_model_version"):
        echo_safe(f"{k:22} {s[k]}")
    click.echo("\nmodel versions")
    echo_table(["version", "seq", "hash", "observed"], [[m["version"], m["seq"], short(m["entry_hash"]), m["observed_at"]] for m in s["model_versions"]])
    click.echo("\nlatest evaluation per suite")
    echo_table(["suite", "model", "result", "seq", "observed"], [[e["suite"], e["model_version"], "passed" if e["passed"] else "FAILED", e["seq"], e["observed_at"]] for e in s["latest_evaluations"]])
    click.echo("\napprovals")
    echo_table(["seq", "decision", "target", "by"], [[a["seq"], a["decision"], short(a["target"]), a["signer"]] for a in s["approvals"]])
    for r in view.pending_reclassifications:
        click.echo("")
        echo_safe(f"pending: {r.describe()}")
    for c in view.pending_corrections:
        click.echo("")
        echo_safe(f"pending: {c.action} of entry {c.target.seq} by entry {c.record.seq}: {c.reason}")


@click.command("trace")
@click.option("--system", required=True, help="The AI system id.")
@click.option("--model-version", "model_version", default=None, help="Only this model version.")
@common_options
@json_option
@pass_app
def trace_cmd(app: AppContext, system: str, model_version: str | None, as_of: str | None, policy_path: Path | None,
              frameworks_dir: Path, as_json: bool) -> None:
    """Model version → evaluations → risk assessment → approvals → exceptions → incidents.

    Broken links (approvals of unknown or retracted entries, records naming an
    unregistered model version) are flagged; exit 1 if there are any.
    """
    from controls import answers

    _, policy = _setup(frameworks_dir, policy_path)
    data = answers.trace(app.ledger_db(), system, policy=policy, as_of=_as_of(as_of), model_version=model_version)
    if as_json:
        echo_json(data)
    else:
        _print_trace(data)
    if data["broken_links"]:
        sys.exit(1)


def _print_trace(data: dict[str, Any]) -> None:
    def line(indent: int, label: str, e: dict[str, Any], extra: str = "") -> None:
        echo_safe(f"{' ' * indent}{label} #{e['seq']} {e['entry_hash'][:16]} {e['observed_at'][:10]} {extra}".rstrip())

    echo_safe(f"system {data['system']}")
    for link in data["chain"]:
        mv = link["model_version"]
        line(0, f"model {mv['version']}", mv, f"sha256:{(mv['artifact_sha256'] or '')[:12]}")
        for e in link["evaluations"]:
            line(2, "evaluation", e, f"{e['suite']} {'passed' if e['passed'] else 'FAILED'}")
        for e in link["documents"]:
            line(2, "document", e, e["doc_type"])
        for e in link["risk_assessments"]:
            line(2, "risk assessment", e, f"residual {e['residual_risk']}")
        ra = link["release_approval"]
        echo_safe(f"  release approval: {ra['status']} ({len(ra['approved_by'])}/{ra['required_approvers']})")
        for a in ra["approved_by"]:
            line(4, "approved by " + a["signer"], a)
        for a in ra["not_counted"]:
            line(4, "not counted: " + a["reason"], a)
        for e in link["incidents"]:
            line(2, "incident", e, f"{e['severity']} {e['status']}")
    for e in data["exceptions"]:
        line(0, "exception", e, f"{','.join(e['controls'] or [])} until {str(e['expires_at'])[:10]} ({e['approval']})")
    for w in data["withdrawals"]:
        t = w["target"]
        line(0, f"{w['action']} ({w['state']})", w["by"],
             f"of #{t['seq']} {t['kind']} by {w['by']['signer']}: {w['why'] or ''} [{w['reason']}]")
    for r in data["reclassifications"]:
        what = ", ".join(f"{f} {c['from']} -> {c['to']}" for f, c in r["changes"].items())
        line(0, f"reclassification ({r['state']})", r["entry"], what)
    for b in data["broken_links"]:
        line(0, "BROKEN", b, b["problem"])


@click.command("kpis")
@click.option("--framework", "frameworks", multiple=True, help="Framework id (repeatable; default: all assessable).")
@click.option("--expiring", "window", default="30d", show_default=True, help="Window for 'expiring soon'.")
@common_options
@json_option
@pass_app
def kpis_cmd(app: AppContext, frameworks: tuple[str, ...], window: str, as_of: str | None, policy_path: Path | None,
             frameworks_dir: Path, as_json: bool) -> None:
    """Governance KPIs: coverage, evaluation and documentation coverage, freshness,
    automation, exceptions and their ageing, time to release approval, gate pass rate."""
    from controls import service

    graph, policy = _setup(frameworks_dir, policy_path)
    data = service.kpis(app.ledger_engine(), graph=graph, policy=policy, frameworks=list(frameworks),
                        as_of=_as_of(as_of), expiring_window=parse_duration(window))
    if as_json:
        echo_json(data)
        return
    _print_kpis(data)


def _pct(r: dict[str, Any]) -> str:
    return "n/a" if r["value"] is None else f"{r['value']}% ({r['numerator']}/{r['denominator']})"


def _print_kpis(d: dict[str, Any]) -> None:
    if not d["systems"]:
        click.echo(f"no system was registered as of {d['as_of']}: there is nothing to measure yet")
        return
    click.echo(f"KPIs as of {d['as_of']} over {d['systems']} system(s)")
    click.echo("\nevidence coverage (% covered+excepted of applicable requirements)")
    fws = sorted({f for per in d["evidence_coverage"].values() for f in per})
    echo_table(["system", *fws], [[s, *(per.get(f) for f in fws)] for s, per in d["evidence_coverage"].items()])
    click.echo("")
    rows = [[f"evaluation coverage, {t} tier", _pct(r)] for t, r in d["evaluation_coverage_by_tier"].items()]
    rows += [
        ["documentation coverage (high-risk with current model card)", _pct(d["documentation_coverage"])],
        ["evidence freshness (evidenced controls not stale)", _pct(d["evidence_freshness"])],
        ["control automation ratio (records signed by pipelines)", _pct(d["control_automation_ratio"])],
        ["exception rate (applicable controls excepted)", _pct(d["exception_rate"])],
        ["gate pass rate (current model versions)", _pct(d["gate_pass_rate"])],
        ["median hours model version -> release approval", d["median_hours_model_version_to_release_approval"]],
    ]
    e = d["exceptions"]
    rows += [
        ["exceptions active / pending / expired", f"{e['active']} / {e['pending']} / {e['expired']}"],
        [f"exceptions expiring within {e['expiring_within_days']['days']} days", e["expiring_within_days"]["count"]],
        ["open exception age, median days", e["open_age_days_median"]],
    ]
    echo_table(["kpi", "value"], rows)


COMMANDS: list[click.Command] = [
    coverage_cmd, gaps_cmd, gate_cmd, verify_gate_cmd, exceptions_cmd, systems_group, trace_cmd, kpis_cmd,
]
