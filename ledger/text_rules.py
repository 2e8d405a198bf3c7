"""Which characters a record's text fields may hold.

A field value ends up in terminal tables, HTML and PDF reports and database
text columns. Some characters forge or hide text there: control characters
(NUL, which PostgreSQL text columns refuse; CR and LF, which start a new table
row; ESC, which starts a terminal escape sequence; the other C0 and C1
controls and DEL), the bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069, which reorder what is shown: "Trojan Source")
and the line and paragraph separators U+2028 and U+2029.

* a single-line field (ids, names, titles, owners, reasons, ...) holds none of them;
* a multi-line field (notes, descriptions, rationales, ...) may also hold LF and TAB.

The rules are plain functions so that the pydantic types in
:mod:`ledger.records` and the terminal output in ``cli`` share one definition.
This module does not escape anything for display (see ``cli.present``).
"""

from __future__ import annotations

import re

UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
"""A regular-expression character class (without brackets) of every character refused in a single-line field."""

_SINGLE_LINE_BAD = re.compile(f"[{UNSAFE_CHARS}]")
_MULTI_LINE_BAD = re.compile(f"(?![\t\n])[{UNSAFE_CHARS}]")


_BELOW_2070 = "".join(map(chr, range(0x2070)))


def _pattern_without(allowed: str = "") -> str:
    """A pydantic ``pattern`` constraint: no character of :data:`UNSAFE_CHARS` but ``allowed``.

    Written for the Rust ``regex`` crate that pydantic-core runs it with, each
    character escaped (they all lie below U+2070)."""
    refused = [c for c in _SINGLE_LINE_BAD.findall(_BELOW_2070) if c not in allowed]
    return "^[^" + "".join(f"\\u{{{ord(c):04X}}}" for c in refused) + "]*$"


SINGLE_LINE_PATTERN = _pattern_without()
"""Checks a single-line field in pydantic-core, with no Python call per field; ``ledger.records``
reports a mismatch with :func:`single_line_problem`'s message."""
MULTI_LINE_PATTERN = _pattern_without("\t\n")
"""As :data:`SINGLE_LINE_PATTERN` for a multi-line field (:func:`multi_line_problem`)."""


_NAMES = {
    "\x00": "NUL", "\t": "tab", "\n": "line feed", "\r": "carriage return", "\x1b": "escape", "\x7f": "delete",
    "\x85": "next line", "\u2028": "line separator", "\u2029": "paragraph separator",
    "\u202a": "left-to-right embedding", "\u202b": "right-to-left embedding", "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override", "\u202e": "right-to-left override", "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate", "\u2068": "first strong isolate", "\u2069": "pop directional isolate",
}


def describe_char(ch: str) -> str:
    """``U+000A (line feed)``: a character named for a message."""
    name = _NAMES.get(ch, "control character")
    return f"U+{ord(ch):04X} ({name})"


def single_line_problem(value: str) -> str | None:
    """Why ``value`` may not be a single-line field's value, or None."""
    found = _SINGLE_LINE_BAD.search(value)
    if found is None:
        return None
    hint = ""
    if found.group() == "\n" and found.start() == len(value) - 1:
        hint = " (a YAML block scalar '|' or '>' ends with a line break: write '|-' or '>-')"
    return (f"{describe_char(found.group())} at character {found.start() + 1} is not allowed "
            f"in a single-line text field{hint}")


def multi_line_problem(value: str) -> str | None:
    """Why ``value`` may not be a multi-line field's value (LF and TAB are allowed), or None."""
    found = _MULTI_LINE_BAD.search(value)
    if found is None:
        return None
    hint = " (use LF line breaks)" if found.group() == "\r" else ""
    return f"{describe_char(found.group())} at character {found.start() + 1} is not allowed in a text field{hint}"
