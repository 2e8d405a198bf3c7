"""Shared click options and key loading for commands that sign."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ledger.errors import InputError

if TYPE_CHECKING:
    from ledger.keys import PrivateKey

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PASSPHRASE_ENV = "ASSURE_KEY_PASSPHRASE"
SKEW_ENV = "ASSURE_MAX_CLOCK_SKEW"


def max_clock_skew() -> dt.timedelta:
    """How far ``observed_at`` may be ahead of the ledger's clock: ``$ASSURE_MAX_CLOCK_SKEW``
    seconds (default 300). Append and verify read the same setting.

    Raises:
        InputError: if the variable is not a whole number of seconds from 0 to 86400.
    """
    from ledger.time_rules import DEFAULT_MAX_SKEW

    text = os.environ.get(SKEW_ENV)
    if text is None:
        return DEFAULT_MAX_SKEW
    if not text.strip().isdigit() or int(text) > 86_400:
        raise InputError(f"{SKEW_ENV}={text!r}: give whole seconds from 0 to 86400 (default 300)")
    return dt.timedelta(seconds=int(text))


def json_option(fn: F) -> F:
    """``--json``: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)  # type: ignore[return-value]


def passphrase_option(fn: F) -> F:
    """``--passphrase-env VAR``: the environment variable holding a key passphrase."""
    return click.option(  # type: ignore[return-value]
        "--passphrase-env",
        metavar="VAR",
        default=None,
        help=f"Environment variable holding the key's passphrase (default: {DEFAULT_PASSPHRASE_ENV} if set).",
    )(fn)


def read_passphrase(var: str | None) -> bytes | None:
    """The passphrase from ``$var`` (or the default variable), if any.

    Raises:
        InputError: if ``var`` was named but is not set.
    """
    if var:
        value = os.environ.get(var)
        if value is None:
            raise InputError(f"environment variable {var} is not set", field="--passphrase-env")
        return value.encode()
    value = os.environ.get(DEFAULT_PASSPHRASE_ENV)
    return value.encode() if value else None


def load_key(path: str | None, passphrase_env: str | None, *, what: str = "--key") -> PrivateKey | None:
    """Load a private key from ``path`` if given."""
    if not path:
        return None
    from ledger.keys import load_private_key

    return load_private_key(Path(path), passphrase=read_passphrase(passphrase_env))


def require_key(path: str | None, passphrase_env: str | None, *, what: str = "--key") -> PrivateKey:
    """Load a private key that the command cannot do without.

    Raises:
        InputError: if no path was given.
    """
    key = load_key(path, passphrase_env, what=what)
    if key is None:
        raise InputError(f"missing {what} PEM")
    return key
