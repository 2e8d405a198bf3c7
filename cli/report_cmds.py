"""``assure package``, ``assure verify-package``, ``assure report`` (filled in by the audit-package work)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
