"""``assure keys generate|trust|revoke|list``."""

from __future__ import annotations

from pathlib import Path

import click

from cli.context import AppContext, pass_app
from cli.options import json_option, passphrase_option, read_passphrase, require_key
from cli.output import echo_json, echo_table
from cli.present import echo_safe
from ledger.registry import ROLES
from ledger.timeutil import format_timestamp


@click.group("keys")
def keys_group() -> None:
    """Signing keys: generate them, and trust or revoke them in the ledger."""


@keys_group.command("generate")
@click.option("--out", "out", required=True, metavar="PATH", help="Private key file; the public key goes to PATH.pub.")
@passphrase_option
def generate_cmd(out: str, passphrase_env: str | None) -> None:
    """Create an Ed25519 key pair (private file mode 0600). Prints the key id."""
    from ledger.keys import PrivateKey, write_key_pair

    passphrase = read_passphrase(passphrase_env) if passphrase_env else None
    key = PrivateKey.generate()
    pub_path = write_key_pair(key, Path(out), passphrase=passphrase)
    click.echo(key.public.key_id)
    click.echo(f"private key: {out} (mode 0600{', encrypted' if passphrase else ''})\npublic key:  {pub_path}", err=True)


@keys_group.command("trust")
@click.argument("public_key", metavar="PUB", type=click.Path(dir_okay=False))
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the key may sign.")
@click.option("--owner", required=True, help="Person, team or pipeline holding the key.")
@click.option("--valid-until", default=None, metavar="TIME", help="RFC 3339 time after which the key may no longer sign.")
@click.option("--system", "systems", multiple=True, metavar="SYSTEM",
              help="Only for records of this system (repeatable; '*' for organisation-wide records). Default: any.")
@click.option("--key", "admin_key", envvar="ASSURE_ADMIN_KEY", required=True, metavar="ADMIN_PEM", help="Admin private key (env ASSURE_ADMIN_KEY).")
@passphrase_option
@pass_app
def trust_cmd(app: AppContext, public_key: str, role: str, owner: str, valid_until: str | None,
              systems: tuple[str, ...], admin_key: str, passphrase_env: str | None) -> None:
    """Trust PUB for a role: appends a key.trust entry signed by an admin key.

    Scope a pipeline's key to the systems it builds with --system: it can then
    sign nothing for any other system.
    """
    from ledger.keys import load_public_key
    from ledger.store import Ledger, trust_key

    admin = require_key(admin_key, passphrase_env)
    pub = load_public_key(Path(public_key))
    entry = trust_key(Ledger(app.ledger_engine()), admin, pub, role=role, owner=owner, valid_until=valid_until,
                      systems=list(systems) or None)
    scope = f" for {', '.join(systems)}" if systems else ""
    echo_safe(f"trusted {pub.key_id} as {role} ({owner}){scope} at entry {entry.seq}")


@keys_group.command("revoke")
@click.argument("key_id", metavar="KEYID")
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@click.option("--key", "admin_key", envvar="ASSURE_ADMIN_KEY", required=True, metavar="ADMIN_PEM", help="Admin private key (env ASSURE_ADMIN_KEY).")
@passphrase_option
@pass_app
def revoke_cmd(app: AppContext, key_id: str, reason: str, admin_key: str, passphrase_env: str | None) -> None:
    """Revoke KEYID (full id or a unique prefix): it may sign nothing from now on.

    Entries it signed before the revocation stay valid.
    """
    from ledger.store import Ledger, revoke_key

    admin = require_key(admin_key, passphrase_env)
    entry = revoke_key(Ledger(app.ledger_engine()), admin, key_id, reason=reason)
    click.echo(f"revoked at entry {entry.seq}")


@keys_group.command("list")
@json_option
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """List every key the ledger knows, with role, owner and status."""
    from ledger.store import Ledger

    keys = list(Ledger(app.ledger_engine()).registry())
    if as_json:
        echo_json([
            {
                "key_id": k.key_id, "role": k.role, "owner": k.owner, "status": k.status(),
                "trusted_seq": k.trusted_seq, "trusted_at": format_timestamp(k.trusted_at),
                "valid_until": format_timestamp(k.valid_until) if k.valid_until else None,
                "revoked_seq": k.revoked_seq, "revoke_reason": k.revoke_reason,
                "systems": list(k.systems) if k.systems is not None else None,
            }
            for k in keys
        ])
        return
    echo_table(
        ["key_id", "role", "owner", "status", "trusted", "revoked", "systems"],
        [[k.key_id[:16], k.role, k.owner, k.status(), k.trusted_seq, k.revoked_seq,
          ", ".join(k.systems) if k.systems is not None else "any"] for k in keys],
    )


COMMANDS: list[click.Command] = [keys_group]
