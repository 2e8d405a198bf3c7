"""Decide whether a requirement binds a given AI system on a given day.

A requirement without an ``applicability`` block (NIST AI RMF, ISO/IEC 42001)
applies to every system in scope of its framework, if it is assessable. A
regulatory provision (EU AI Act) applies when all of these hold:

* it is binding (an obligation, requirement, prohibition or right, addressed to
  an operator);
* the system's ``eu_role`` answers for one of its actors (a provider answers for
  ``provider``, ``gpai_provider`` and ``any_operator``; a deployer for
  ``deployer`` and ``any_operator``; ``none`` for nothing);
* the system's ``eu_class`` is inside its scope;
* ``as_of`` is on or after its start date for that class (a ``transitional``
  date when the system was placed on the market early) and before
  ``applies_until``;
* its ``condition`` fact holds, when the caller says which facts hold (no
  facts given = unknown = assume it does, so nothing is silently dropped).

``law="original"`` answers for Regulation (EU) 2024/1689 as first adopted,
ignoring Regulation (EU) 2026/1744.

The internal risk tier does not change what the law requires; it selects
internal controls (:meth:`frameworks.schema.AppliesTo.matches`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Literal

from frameworks import vocab
from frameworks.library import Requirement
from frameworks.schema import Applicability

Law = Literal["current", "original"]


def start_date(
    applicability: Applicability,
    *,
    eu_class: str,
    law: Law = "current",
    placed_on_market: date | None = None,
) -> date | None:
    """The date a provision starts to apply to a system of ``eu_class``.

    Args:
        applicability: the provision's applicability block.
        eu_class: the system's EU AI Act class.
        law: ``current`` (as amended) or ``original`` (as adopted in 2024).
        placed_on_market: when the system or model was placed on the market,
            if known; selects a ``transitional`` start date.

    Returns:
        The start date, or None if the provision never concerns such a system
        (out of scope, or absent from that version of the law).
    """
    if eu_class not in applicability.classes:
        return None
    dates = applicability.applies_from if law == "current" else applicability.original_applies_from
    if dates is None:
        return None
    start = dates.get(eu_class) or dates.get("all")
    if start is None:
        return None
    if placed_on_market is not None:
        for rule in applicability.transitional:
            if law == "original" and not rule.in_original:
                continue
            if placed_on_market < rule.placed_before:
                start = max(start, rule.applies_from)
    return start


def applies(
    requirement: Requirement,
    *,
    eu_class: str,
    eu_role: str,
    as_of: date,
    facts: Collection[str] | None = None,
    placed_on_market: date | None = None,
    law: Law = "current",
) -> bool:
    """Whether a requirement binds a system with these attributes on ``as_of``.

    Args:
        requirement: any requirement of the library.
        eu_class: the system's ``eu_class`` (see :data:`frameworks.vocab.EU_CLASSES`).
        eu_role: the system's ``eu_role`` (``provider``, ``deployer``, ``none``...).
        as_of: the day to decide for.
        facts: condition facts known to hold for the system (e.g.
            ``{"interacts_with_persons"}``); None means unknown, and
            conditional provisions are then assumed to apply.
        placed_on_market: when the system was placed on the market, if known.
        law: ``current`` or ``original``.

    Returns:
        True when the requirement applies.

    Raises:
        ValueError: for an ``eu_class`` or ``eu_role`` outside the vocabulary.
    """
    if eu_class not in vocab.EU_CLASSES:
        raise ValueError(f"unknown eu_class {eu_class!r} (one of: {', '.join(vocab.EU_CLASSES)})")
    if eu_role not in vocab.ROLE_ACTORS:
        raise ValueError(f"unknown eu_role {eu_role!r} (one of: {', '.join(vocab.ROLE_ACTORS)})")
    if not requirement.assessable:
        return False
    rule = requirement.applicability
    if rule is None:
        return True
    if not rule.binding or not set(rule.actors) & vocab.ROLE_ACTORS[eu_role]:
        return False
    if rule.condition is not None and facts is not None and rule.condition.fact not in facts:
        return False
    start = start_date(rule, eu_class=eu_class, law=law, placed_on_market=placed_on_market)
    if start is None or as_of < start:
        return False
    return not (law == "current" and rule.applies_until is not None and as_of >= rule.applies_until)
