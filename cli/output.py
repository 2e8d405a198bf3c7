"""Printing helpers: JSON for pipelines, aligned tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from cli.present import safe


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a plain aligned table (no borders), or a note if empty.

    Every cell is escaped with :func:`cli.present.safe`: a value cannot start a
    row of its own or send the terminal an escape sequence.
    """
    if not rows:
        click.echo("(none)")
        return
    cells = [[safe(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def short(hex_text: str | None, n: int = 16) -> str:
    """Shorten a hex hash for tables."""
    return "" if not hex_text else hex_text[:n]


@contextmanager
def progress_line(what: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback that keeps one line on a terminal's stderr
    up to date (``what`` names the unit: "verified ... entries"); silent when stderr is
    not a terminal or ``enabled`` is false (e.g. with --json)."""
    shown = enabled and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if shown:
            click.echo(f"\r{what.format(done=f'{done:,}', total=f'{total:,}')}", nl=False, err=True)

    try:
        yield progress
    finally:
        if shown:
            click.echo("", err=True)
