"""Bearer tokens of the HTTP API: make, list, revoke and check them.

A token is ``assure_<id>_<secret>``: ``id`` (12 hex digits) names it in lists and
revocations, ``secret`` is 32 random bytes (base64url). Only the SHA-256 of the
whole token is stored (in ``api_token``, outside the ledger); with 256 bits of
entropy a plain hash is as good as a slow one, and a lookup by hash leaks
nothing through timing. The token is returned once, by :func:`create_token`.

A token grants a role, never a signature: what it may post is still judged by
the envelopes' signatures (see ``server``). This module does not know HTTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from ledger import models as m
from ledger.db import read_transaction, write_transaction
from ledger.errors import InputError, NotFoundError
from ledger.text_rules import single_line_problem
from ledger.timeutil import format_timestamp, utcnow

ROLES = ("viewer", "auditor", "pipeline", "admin")
"""Token roles. viewer: statuses and metadata; auditor: also record payloads and
packages; pipeline: post entries (and read what a viewer reads); admin: everything,
including managing tokens."""

_GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "auditor": frozenset({"read", "payloads"}),
    "pipeline": frozenset({"read", "append"}),
    "admin": frozenset({"read", "payloads", "append", "tokens"}),
}
_PREFIX = "assure_"


class TokenError(InputError):
    """A token that is missing, unknown, revoked or expired (HTTP 401)."""


@dataclass(frozen=True)
class TokenInfo:
    """A stored token (never the secret)."""

    token_id: str
    name: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def may(self, right: str) -> bool:
        """Whether the role grants ``right`` (``read``, ``payloads``, ``append``, ``tokens``)."""
        return right in _GRANTS.get(self.role, frozenset())

    def state(self, now: dt.datetime) -> str:
        """``active``, ``revoked`` or ``expired`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _aware(self.expires_at) <= now:
            return "expired"
        return "active"

    def to_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """JSON form (what ``assure tokens list --json`` prints)."""
        return {
            "token_id": self.token_id, "name": self.name, "role": self.role,
            "created_at": format_timestamp(_aware(self.created_at)),
            "expires_at": format_timestamp(_aware(self.expires_at)) if self.expires_at else None,
            "revoked_at": format_timestamp(_aware(self.revoked_at)) if self.revoked_at else None,
            "state": self.state(now or utcnow()),
        }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row.token_id, row.name, row.role, row.created_at, row.expires_at, row.revoked_at)


def create_token(
    engine: Engine, *, role: str, name: str, expires_in: dt.timedelta | None = None, now: dt.datetime | None = None,
) -> tuple[str, TokenInfo]:
    """Make a token and store its hash.

    Returns:
        The token (shown once: it is not stored) and what is stored about it.

    Raises:
        InputError: for an unknown role, an empty or unprintable name, or a
            non-positive lifetime.
    """
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (one of: {', '.join(ROLES)})", field="--role")
    if not name.strip() or len(name) > 200 or single_line_problem(name):
        raise InputError("a name of 1 to 200 printable characters", field="--name")
    if expires_in is not None and expires_in <= dt.timedelta(0):
        raise InputError("a token must expire in the future", field="--expires")
    now = now or utcnow()
    token_id = secrets.token_hex(6)
    token = f"{_PREFIX}{token_id}_{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"
    info = TokenInfo(token_id, name, role, now, now + expires_in if expires_in else None, None)
    with write_transaction(engine) as conn:
        conn.execute(insert(m.ApiToken).values(
            token_id=token_id, name=name, role=role, token_sha256=_digest(token),
            created_at=now, expires_at=info.expires_at, revoked_at=None,
        ))
    return token, info


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token ever made (revoked and expired too), oldest first."""
    with read_transaction(engine) as conn:
        rows = conn.execute(select(m.ApiToken).order_by(m.ApiToken.created_at))  # type: ignore[arg-type]
        return [_info(r) for r in rows]


def revoke_token(engine: Engine, token_id: str, *, now: dt.datetime | None = None) -> TokenInfo:
    """Revoke a token from now on (a revoked token stays listed).

    Raises:
        NotFoundError: if there is no token with that id.
    """
    ref = token_id.strip().lower()
    with write_transaction(engine) as conn:
        row = conn.execute(select(m.ApiToken).where(m.ApiToken.token_id == ref)).first()  # type: ignore[arg-type]
        if row is None:
            raise NotFoundError(f"no token with id {token_id!r} (see 'assure tokens list')", field="TOKEN_ID")
        if row.revoked_at is None:
            conn.execute(update(m.ApiToken).where(m.ApiToken.token_id == ref)  # type: ignore[arg-type]
                         .values(revoked_at=now or utcnow()))
        row = conn.execute(select(m.ApiToken).where(m.ApiToken.token_id == ref)).one()  # type: ignore[arg-type]
    return _info(row)


def check_token(engine: Engine, token: str | None, *, now: dt.datetime | None = None) -> TokenInfo:
    """The stored token that ``token`` is, if it is active.

    Raises:
        TokenError: no token, an unknown one, or a revoked or expired one.
    """
    if not token:
        raise TokenError("no bearer token: send 'Authorization: Bearer <token>' (see 'assure tokens create')")
    if not token.startswith(_PREFIX) or len(token) > 200:
        raise TokenError("not an Assure API token")
    with read_transaction(engine) as conn:
        row = conn.execute(select(m.ApiToken).where(m.ApiToken.token_sha256 == _digest(token))).first()  # type: ignore[arg-type]
    if row is None:
        raise TokenError("unknown token")
    return _active(row, now)


def _active(row: Any, now: dt.datetime | None) -> TokenInfo:
    info = _info(row)
    state = info.state(now or utcnow())
    if state != "active":
        raise TokenError(f"token {info.token_id} is {state}")
    return info


_FEED = b"assure-calendar-feed"
"""What a calendar feed key is an HMAC of, keyed by the token's stored digest."""


def feed_key(token: str, token_id: str) -> str:
    """A key for the calendar feed of a signed-in ``token``: ``TOKEN_ID.HMAC``. It reads the
    feed and nothing else (it is no bearer token), so a feed URL that ends up in a proxy log or
    a calendar provider's hands opens no API; revoking the token ends it."""
    return f"{token_id}.{_feed_mac(_digest(token))}"


def check_feed_key(engine: Engine, key: str | None, *, now: dt.datetime | None = None) -> TokenInfo:
    """The token whose calendar feed ``key`` opens, if it is active.

    Raises:
        TokenError: a missing, malformed or wrong key, or a revoked or expired token.
    """
    token_id, _, mac = (key or "").partition(".")
    if not token_id or not mac or len(key or "") > 200:
        raise TokenError("no calendar feed key: copy the feed's address from the Systems page")
    with read_transaction(engine) as conn:
        row = conn.execute(select(m.ApiToken).where(m.ApiToken.token_id == token_id)).first()  # type: ignore[arg-type]
    if row is None or not hmac.compare_digest(_feed_mac(row.token_sha256), mac):
        raise TokenError("wrong calendar feed key")
    return _active(row, now)


def _feed_mac(digest: str) -> str:
    return hmac.new(bytes.fromhex(digest), _FEED, hashlib.sha256).hexdigest()
