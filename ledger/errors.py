"""Error types shared by every Assure package.

Every error a user can cause or observe derives from :class:`AssureError`. Each
carries the process exit code the CLI should use, so the CLI has one boundary
that turns errors into messages (no tracebacks for user errors):

* exit 1: an integrity failure (tampered ledger, failed verification, failed gate);
* exit 2: bad input or usage (the message names the file, the field and the reason).

This module defines no behaviour beyond formatting messages.
"""

from __future__ import annotations

from typing import ClassVar


class AssureError(Exception):
    """Base error; :meth:`diagnostics` is what the CLI shows the user."""

    exit_code: ClassVar[int] = 1

    def diagnostics(self) -> str:
        """Return the message shown to the user."""
        return str(self)


class InputError(AssureError):
    """Bad input: a malformed record, an unknown kind, a wrong signature at append.

    Nothing has been written when this is raised.
    """

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        self.reason = message
        parts = [p for p in (source, f"field '{field}'" if field else None) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)


class NotFoundError(InputError):
    """A named entry, key or system does not exist."""


class DuplicateError(InputError):
    """A record that is already in the ledger (same idempotency key) was appended again."""


class LedgerStateError(InputError):
    """The ledger is not in the state the command needs (e.g. not initialised)."""


class IntegrityError(AssureError):
    """The ledger or a package failed verification.

    Attributes:
        seq: the first sequence number found bad, when known.
        reason: what was wrong with it.
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, reason: str, *, seq: int | None = None):
        self.seq = seq
        self.reason = reason
        super().__init__(f"entry {seq}: {reason}" if seq is not None else reason)
