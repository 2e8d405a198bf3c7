"""Values from the ledger made safe to print on a terminal.

A value read from the ledger, a package or a statement file may hold characters
that forge or hide output: a line feed that starts a fake table row, ESC that
starts a terminal escape sequence, a bidi override that reorders the line.
Records appended under the text rules (:mod:`ledger.text_rules`) cannot hold
them in single-line fields, but multi-line fields keep LF and TAB, entries
appended before the rules may hold anything, and so may a derived table or a
file someone hands over. Every line printed for people that carries such values
goes through :func:`safe` (``--json`` output escapes them already).
"""

from __future__ import annotations

import re

import click

from ledger.text_rules import UNSAFE_CHARS

_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _SHORT.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def safe(value: object) -> str:
    """``str(value)`` (``""`` for None) with every control character, bidi
    embedding, override or isolate and line separator written as an escape
    (``\\n``, ``\\x1b``, ``\\u202e``), so it prints as one visible line."""
    return _UNSAFE.sub(_escape, "" if value is None else str(value))


def echo_safe(text: object = "", *, err: bool = False) -> None:
    """Print ``text`` as one line, escaped with :func:`safe`."""
    click.echo(safe(text), err=err)
