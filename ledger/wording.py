"""Small helpers for messages users read."""

from __future__ import annotations


def a(word: str) -> str:
    """``word`` with its indefinite article: "an evaluation", "a document", "an exception"."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word
