"""``assure frameworks …``, ``assure controls …`` and ``assure map`` (filled in by the framework-library work)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
