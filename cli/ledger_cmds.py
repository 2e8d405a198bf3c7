"""Ledger commands: init, sign, append, log, show, verify, checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from cli.context import AppContext, pass_app
from cli.options import (
    json_option,
    load_key,
    max_clock_skew,
    passphrase_option,
    require_key,
)
from cli.output import echo_json, echo_table, progress_line, short
from cli.present import echo_safe
from ledger.output_file import atomic_write

# The library is imported inside each command, so '--help' and usage errors start fast.


@click.command("init")
@click.option("--admin-key", "admin_key", required=True, metavar="PEM", help="The first admin private key (see 'assure keys generate').")
@click.option("--owner", default="ledger admin", show_default=True, help="Who holds the admin key.")
@click.option("--origin", default=None, help="Ledger identity in checkpoints, e.g. example.com/ai-evidence (default: random).")
@passphrase_option
@json_option
@pass_app
def init_cmd(app: AppContext, admin_key: str, owner: str, origin: str | None, passphrase_env: str | None, as_json: bool) -> None:
    """Create the schema and the genesis entry trusting the admin key. Idempotent."""
    from ledger import migrate
    from ledger.store import init_ledger

    key = require_key(admin_key, passphrase_env, what="--admin-key")
    engine = app.engine()
    migrate.upgrade(engine)
    result = init_ledger(engine, key, owner=owner, origin=origin)
    if as_json:
        echo_json(result.__dict__)
        return
    verb = "initialised" if result.created else "already initialised"
    click.echo(f"ledger {verb}: {app.display_url}")
    click.echo(f"  origin     {result.origin}")
    click.echo(f"  admin key  {result.admin_key_id}")
    click.echo(f"  genesis    {result.genesis_hash}")


@click.command("sign")
@click.argument("record_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--key", "key_path", envvar="ASSURE_SIGNING_KEY", required=True, metavar="PEM", help="Private key (env ASSURE_SIGNING_KEY).")
@click.option("-o", "--output", "out", default=None, metavar="FILE", help="Write here instead of stdout.")
@passphrase_option
def sign_cmd(record_file: str, key_path: str, out: str | None, passphrase_env: str | None) -> None:
    """Sign records into DSSE envelopes, offline (no database).

    One record gives one envelope (JSON); several give one envelope per line
    (JSON Lines). Feed the output to 'assure append'.
    """
    from ledger.ingest import read_documents
    from ledger.records import parse_record
    from ledger.store import sign_record

    key = require_key(key_path, passphrase_env)
    docs = read_documents(record_file, stdin=_stdin(record_file))
    envelopes = []
    for doc in docs:
        envelopes.append(sign_record(parse_record(doc.data, source=doc.source), key, source=doc.source))
    text = envelopes[0].to_text() if len(envelopes) == 1 else "".join(
        json.dumps(e.to_json()) + "\n" for e in envelopes
    )
    if out:
        atomic_write(out, text.encode("utf-8"))
        click.echo(f"signed {len(envelopes)} record(s) with key {key.public.key_id[:16]}… -> {out}", err=True)
    else:
        click.echo(text, nl=False)


def _stdin(path: str) -> BinaryIO | None:
    return sys.stdin.buffer if path == "-" else None


@click.command("append")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--key", "key_path", envvar="ASSURE_SIGNING_KEY", default=None, metavar="PEM", help="Sign unsigned records with this key (env ASSURE_SIGNING_KEY).")
@click.option("--checkpoint-key", "cp_key_path", envvar="ASSURE_LEDGER_KEY", default=None, metavar="PEM", help="Admin key to sign a checkpoint covering the new entries (env ASSURE_LEDGER_KEY).")
@passphrase_option
@click.option("--approval-policy", "policy_path", envvar="ASSURE_APPROVAL_POLICY", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Approval policy YAML whose exception limits apply (env ASSURE_APPROVAL_POLICY; default: built-in).")
@json_option
@pass_app
def append_cmd(app: AppContext, files: tuple[str, ...], key_path: str | None, cp_key_path: str | None,
               passphrase_env: str | None, policy_path: Path | None, as_json: bool) -> None:
    """Append records or signed envelopes from FILES (YAML, JSON, JSON Lines; '-' = stdin).

    The whole batch is validated and every signature checked first; then it is
    written all-or-nothing. With --json each entry's receipt is printed: seq,
    entry hash, leaf, RFC 9162 inclusion proof and the tree head (a signed
    checkpoint note with --checkpoint-key) so a pipeline can keep proof that
    its record was logged.

    Besides each record's own form, append refuses what the ledger does not
    back: an unregistered system or model version, an approval or correction
    across systems, a retraction by someone other than the target's submitter
    or an admin, a record observed in the future (beyond
    $ASSURE_MAX_CLOCK_SKEW seconds, default 300), an exception longer than the
    approval policy allows, a key scoped to other systems.
    """
    from ledger.checkpoints import receipts, require_admin_key
    from ledger.ingest import read_documents
    from ledger.store import Ledger

    engine = app.ledger_engine()
    key = load_key(key_path, passphrase_env)
    cp_key = load_key(cp_key_path, passphrase_env, what="--checkpoint-key")
    docs = [d for f in files for d in read_documents(f, stdin=_stdin(f))]
    if cp_key is not None:
        require_admin_key(engine, cp_key)  # refuse before writing, not after
    led = Ledger(engine, control_exists=_control_exists(), policy=_append_policy(policy_path))
    with progress_line("checked {done}/{total} records", enabled=len(docs) >= 1_000) as progress:
        appended = led.append(docs, signing_key=key, progress=progress)
    if as_json or cp_key is not None:
        receipt = receipts(engine, appended, checkpoint_key=cp_key)
    if as_json:
        echo_json(receipt)
        return
    click.echo(f"appended {len(appended)} entr{'y' if len(appended) == 1 else 'ies'}")
    echo_table(["seq", "entry_hash", "kind", "system", "source"],
               [[a.seq, a.entry_hash, a.kind, a.system, a.source] for a in appended])


def _append_policy(policy_path: Path | None) -> Any:
    """What append enforces: the approval policy's exception limits and the clock skew."""
    from controls.approvals import append_policy, load_policy

    return append_policy(load_policy(policy_path), max_skew=max_clock_skew())


def _control_exists() -> Any:
    """A predicate over the control catalog (built-in plus $ASSURE_FRAMEWORKS_DIR)."""
    from cli.framework_cmds import user_frameworks_dir
    from frameworks.loader import control_ids

    known = control_ids(user_dir=user_frameworks_dir())
    return known.__contains__


@click.command("log")
@click.option("--kind", default=None, help="Only this record kind.")
@click.option("--system", default=None, help="Only this AI system.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many entries.")
@json_option
@pass_app
def log_cmd(app: AppContext, kind: str | None, system: str | None, limit: int | None, as_json: bool) -> None:
    """List entries in sequence order."""
    from ledger.entry_reads import iter_records

    with app.ledger_reader() as reader:
        rows = list(iter_records(reader, kind=kind, system=system, limit=limit))
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["seq", "hash", "kind", "system", "observed_at", "detail", "signer"],
        [
            [r["seq"], short(r["entry_hash"]), r["kind"], r["system"],
             r["observed_at"].strftime("%Y-%m-%d %H:%M"), _detail(r), f"{r['signer_role']}:{short(r['signer_key_id'], 8)}"]
            for r in rows
        ],
    )


def _detail(r: dict[str, Any]) -> str:
    bits = [r.get("model_version"), r.get("subtype")]
    if r.get("passed") is not None:
        bits.append("passed" if r["passed"] else "FAILED")
    if r.get("target"):
        bits.append("-> " + short(r["target"], 12))
    return " ".join(str(b) for b in bits if b)


@click.command("show")
@click.argument("ref")
@json_option
@pass_app
def show_cmd(app: AppContext, ref: str, as_json: bool) -> None:
    """Show one entry (by SEQ or entry HASH / hash prefix) with its record and signatures."""
    from ledger.entry_reads import describe_entry

    with app.ledger_reader() as reader:
        data = describe_entry(reader, ref)
    record = data["record"]
    if as_json:
        echo_json(data)
        return
    for k in ("seq", "entry_hash", "prev_hash", "leaf_hash", "received_at", "payload_sha256"):
        echo_safe(f"{k:15} {data[k]}")
    for s in data["signatures"]:
        echo_safe(f"{'signed by':15} {s['keyid']}")
    click.echo("record:")  # json.dumps escapes every control and non-ASCII character
    click.echo(json.dumps(record, indent=2))


@click.command("verify")
@click.option("--against", "against", type=click.Path(exists=True, dir_okay=False), default=None, metavar="CHECKPOINT_FILE", help="A checkpoint kept outside the database: prove the ledger extends it.")
@click.option("--trust-key", "trust_key", type=click.Path(exists=True, dir_okay=False), default=None, metavar="PUB", help="Pin the key that must have signed --against (default: the ledger's admin keys).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Checking processes (default: one per core, plus one).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="A verified-state file kept outside the database: if it exists, check only the entries added "
              "since it was written (and that the ledger extends it); after a pass, write the new state there.")
@click.option("--full", is_flag=True, help="With --state: check every entry anyway, then write the state.")
@json_option
@pass_app
def verify_cmd(app: AppContext, against: str | None, trust_key: str | None, workers: int | None,
               state_path: Path | None, full: bool, as_json: bool) -> None:
    """Recompute every hash, the chain, the Merkle tree, every signature and rule, and every derived table.

    Checks each entry as append would have (signer standing at its receive
    time, references, receive times never going backwards, observed_at within
    $ASSURE_MAX_CLOCK_SKEW seconds of it), then that every derived table
    (records, control links, signers, key registry, Merkle nodes, the head)
    is what the entries give. Exit 0 if the ledger is intact; exit 1 naming
    the first problem otherwise.

    A monitor runs it with --state FILE: the first run checks everything and
    writes FILE; each later run proves the ledger extends what FILE recorded
    and checks only the new entries, so its cost grows with them, not with
    the ledger. Entries verified before are not read again: rewriting an old
    entry is found by a full run (--full, say weekly) or by the inclusion
    proofs of any receipt or package that carries it.
    """
    from ledger.keys import load_public_key
    from ledger.verified_state import VerifiedState
    from ledger.verify import verify_ledger

    note = Path(against).read_text() if against else None
    keys = [load_public_key(Path(trust_key))] if trust_key else None
    skew = max_clock_skew()
    if full and state_path is None:
        raise click.UsageError("--full goes with --state FILE (without it every run is full)")
    since = VerifiedState.read(state_path) if state_path and state_path.exists() and not full else None
    with progress_line("verified {done}/{total} entries", enabled=not as_json) as progress:
        report = verify_ledger(app.ledger_engine(), against_note=note, against_keys=keys, workers=workers,
                               progress=progress, max_skew=skew, since=since)
    if report.ok and state_path is not None and report.state is not None:
        report.state.write(state_path)
    if as_json:
        echo_json(report.to_json())
    elif report.ok:
        new = f" ({report.size - since.size} new since the verified state)" if since else ""
        click.echo(f"ok: {report.size} entries{new}, {report.signatures} signatures, "
                   f"{report.checkpoints} stored checkpoint(s) verified")
        echo_safe(f"origin {report.origin}")
        click.echo(f"root   {report.root.hex()}")
        if report.against is not None:
            click.echo(f"extends the checkpoint of size {report.against.size} ({report.against.root.hex()[:16]}…)")
        if state_path is not None:
            click.echo(f"verified state written to {state_path}")
    else:
        assert report.failure is not None
        echo_safe(f"FAILED: {report.failure}", err=True)
    if not report.ok:
        sys.exit(1)


@click.command("checkpoint")
@click.option("--key", "key_path", envvar="ASSURE_LEDGER_KEY", required=True, metavar="PEM", help="An admin key of this ledger (env ASSURE_LEDGER_KEY).")
@click.option("-o", "--output", "out", default=None, metavar="FILE", help="Also write the note to FILE.")
@passphrase_option
@pass_app
def checkpoint_cmd(app: AppContext, key_path: str, out: str | None, passphrase_env: str | None) -> None:
    """Sign a tree head (C2SP tlog-checkpoint note: origin, size, root).

    The tree is recomputed from the stored entries first, and nothing is signed
    if it disagrees with the head or an earlier checkpoint. Keep copies outside
    the database and check them with 'assure verify --against FILE'.
    """
    from ledger.checkpoints import issue_checkpoint

    key = require_key(key_path, passphrase_env)
    _, note = issue_checkpoint(app.ledger_engine(), key)
    if out:
        atomic_write(out, note.encode("utf-8"))
    click.echo(note, nl=False)


@click.group("proof")
def proof_group() -> None:
    """Merkle proofs on demand (RFC 9162), e.g. for a receipt kept without a checkpoint."""


@proof_group.command("inclusion")
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--size", type=click.IntRange(min=0), default=None, metavar="N",
              help="Prove it in the tree of the first N entries (default: the whole ledger).")
@json_option
@pass_app
def proof_inclusion_cmd(app: AppContext, seq: int, size: int | None, as_json: bool) -> None:
    """Prove entry SEQ is in the ledger's tree: leaf hash, audit path, root (hex and base64)."""
    from ledger.proofs import prove_inclusion

    proof = prove_inclusion(app.ledger_engine(), seq, size=size)
    _print_proof(proof.to_json(), as_json, f"entry {seq} in the tree of {proof.tree_size} entries")


@proof_group.command("consistency")
@click.option("--from", "old", type=click.IntRange(min=0), required=True, metavar="N",
              help="The earlier tree size (a checkpoint's or a receipt's tree_size).")
@click.option("--to", "new", type=click.IntRange(min=0), default=None, metavar="M",
              help="The later tree size (default: the whole ledger).")
@json_option
@pass_app
def proof_consistency_cmd(app: AppContext, old: int, new: int | None, as_json: bool) -> None:
    """Prove the ledger of M entries extends the ledger of N entries: both roots and the proof."""
    from ledger.proofs import prove_consistency

    proof = prove_consistency(app.ledger_engine(), old, new=new)
    _print_proof(proof.to_json(), as_json, f"the tree of {proof.new_size} entries extends the tree of "
                 f"{proof.old_size}")


def _print_proof(data: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        echo_json(data)
        return
    click.echo(f"{what} (verified)")
    for k, v in data.items():
        if k.endswith("_base64") or k == "checkpoint":
            continue
        click.echo(f"  {k:14} {' '.join(v) if isinstance(v, list) else v}")
    if data.get("checkpoint"):
        click.echo("  a signed checkpoint of that size:\n" + data["checkpoint"])


COMMANDS: list[click.Command] = [
    init_cmd, sign_cmd, append_cmd, log_cmd, show_cmd, verify_cmd, checkpoint_cmd, proof_group,
]


_LISTED_JSON = 1_000
"""Differences ``reindex --check --json`` lists (a wiped table differs on every entry); ``count`` has them all."""


@click.command("reindex")
@click.option("--check", is_flag=True, help="Only compare; write nothing. Exit 1 if anything differs.")
@json_option
@pass_app
def reindex_cmd(app: AppContext, check: bool, as_json: bool) -> None:
    """Rebuild the derived tables (records, control links, signers, key registry, Merkle nodes) from the entries.

    Coverage and proofs read these tables; 'assure verify' (and --check here)
    finds any that were changed behind the ledger's back. Run 'assure verify'
    first: the rebuild trusts the entries. Progress is shown on a terminal;
    --check lists the first 50 differences (1,000 with --json, and their count).
    """
    from ledger.reindex import check_projections, rebuild_projections

    engine = app.ledger_engine()
    if not check:
        with progress_line("rebuilt from {done}/{total} entries", enabled=not as_json) as progress:
            entries = rebuild_projections(engine, progress=progress)
        if as_json:
            echo_json({"ok": True, "rebuilt": True, "entries": entries})
        else:
            click.echo(f"rebuilt the derived tables from {entries} entries")
        return
    with progress_line("compared {done}/{total} entries", enabled=not as_json) as progress:
        problems = check_projections(engine, progress=progress)
    if as_json:
        echo_json({"ok": not problems, "count": len(problems), "differences": problems[:_LISTED_JSON]})
    else:
        for p in problems[:50]:
            click.echo(p)
        if problems:
            click.echo(f"{len(problems)} difference(s) between projections and entries; run 'assure reindex'",
                       err=True)
        else:
            click.echo("projections match the entries")
    if problems:
        sys.exit(1)


COMMANDS.append(reindex_cmd)
