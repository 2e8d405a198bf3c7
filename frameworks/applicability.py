"""Decide whether a requirement binds a given AI system on a given day, and say why.

A requirement without an ``applicability`` block (NIST AI RMF, ISO/IEC 42001)
applies to every system in scope of its framework, if it is assessable. A
regulatory provision (EU AI Act) applies when all of these hold:

* it is binding (an obligation, requirement, prohibition or right, addressed to
  an operator);
* the system's class (``eu_class``) is inside its scope;
* one of the system's roles (``eu_roles``; a system may be provider *and*
  deployer) answers for one of its actors (see :data:`frameworks.vocab.ROLE_ACTORS`;
  a product manufacturer is also deemed the provider of an Annex I system, Art 25(3));
* its ``condition`` holds for the system's facts (:data:`frameworks.vocab.FACTS`);
* ``as_of`` is on or after its start date for that class (a ``transitional``
  date when the system was placed on the market early) and before
  ``applies_until``.

:func:`assess` returns a :class:`Verdict`: ``applicable``, ``not_applicable``,
``upcoming`` (starts within ``horizon_days``) or ``needs_review`` (the condition
depends on a fact the system record does not state), with a short reason for a
person. A missing fact never makes a provision silently not applicable.
:func:`applies` is the yes/no form (``needs_review`` counts as yes).

``law="original"`` answers for Regulation (EU) 2024/1689 as first adopted,
ignoring Regulation (EU) 2026/1744.

This module reads no ledger and knows no controls. The internal risk tier does
not change what the law requires; it selects internal controls
(:meth:`frameworks.schema.AppliesTo.matches`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from frameworks import vocab
from frameworks.library import Requirement
from frameworks.schema import Applicability, Condition, Transitional

Law = Literal["current", "original"]
Status = Literal["applicable", "not_applicable", "needs_review", "upcoming"]
FactValue = bool | str | None

STATUSES: tuple[Status, ...] = ("applicable", "needs_review", "upcoming", "not_applicable")
"""Every verdict status; the first two mean the requirement binds the system now."""

_KIND_WORDS = {
    "permission": "a permission",
    "exemption": "an exemption",
    "clarification": "a clarification",
    "classification": "a classification rule",
    "authority_task": "a task of the authorities",
}


@dataclass(frozen=True)
class Verdict:
    """Whether a requirement binds a system on a day, and why.

    Attributes:
        status: ``applicable``; ``needs_review`` (it binds the system unless a
            fact the record does not state rules it out); ``upcoming`` (it
            starts within the horizon asked for); ``not_applicable``.
        reason: one line for a person, e.g. ``applies from 2027-12-02: Annex
            III high-risk, Art 113(c) as amended by Reg. (EU) 2026/1744``.
        applies_from: the day it starts (or started) to apply to the system,
            where a date decides or will decide.
        applies_until: the day it stops applying (a replaced provision).
        missing_facts: the facts the record should state to settle it.
    """

    status: Status
    reason: str
    applies_from: date | None = None
    applies_until: date | None = None
    missing_facts: tuple[str, ...] = ()

    @property
    def binds(self) -> bool:
        """True for ``applicable`` and ``needs_review``: treat it as binding today."""
        return self.status in ("applicable", "needs_review")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (dates as ISO strings; absent values left out)."""
        out: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.applies_from is not None:
            out["applies_from"] = self.applies_from.isoformat()
        if self.applies_until is not None:
            out["applies_until"] = self.applies_until.isoformat()
        if self.missing_facts:
            out["missing_facts"] = list(self.missing_facts)
        return out


@dataclass(frozen=True)
class _Start:
    day: date
    per_class: bool
    transitional: Transitional | None


def _start(
    applicability: Applicability, *, eu_class: str, law: Law, placed_on_market: date | None
) -> _Start | None:
    if eu_class not in applicability.classes:
        return None
    dates = applicability.applies_from if law == "current" else applicability.original_applies_from
    if dates is None:
        return None
    per_class = eu_class in dates
    start = dates.get(eu_class) or dates.get("all")
    if start is None:
        return None
    chosen: Transitional | None = None
    if placed_on_market is not None:
        for rule in applicability.transitional:
            if law == "original" and not rule.in_original:
                continue
            if placed_on_market < rule.placed_before and rule.applies_from > start:
                start, chosen = rule.applies_from, rule
    return _Start(start, per_class, chosen)


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
    found = _start(applicability, eu_class=eu_class, law=law, placed_on_market=placed_on_market)
    return None if found is None else found.day


# --- checking the inputs ------------------------------------------------------------


def _roles(eu_roles: str | Collection[str]) -> tuple[str, ...]:
    roles = (eu_roles,) if isinstance(eu_roles, str) else tuple(dict.fromkeys(eu_roles))
    for role in roles:
        if role not in vocab.ROLE_ACTORS:
            raise ValueError(f"unknown eu_role {role!r} (one of: {', '.join(vocab.ROLE_ACTORS)})")
    if "none" in roles and len(roles) > 1:
        raise ValueError(f"eu_role 'none' cannot be combined with other roles ({', '.join(roles)})")
    return roles


def normalise_facts(facts: Mapping[str, FactValue] | None) -> dict[str, FactValue]:
    """Check a system's facts and fill in what an Annex III point implies.

    Args:
        facts: fact name -> value; a name left out, or None, is unknown.

    Returns:
        A value (possibly None) for every fact of :data:`frameworks.vocab.FACTS`.

    Raises:
        ValueError: for an unknown fact name or a value of the wrong kind.
    """
    given = dict(facts or {})
    unknown = sorted(set(given) - set(vocab.FACTS))
    if unknown:
        raise ValueError(
            f"unknown system fact(s) {', '.join(map(repr, unknown))} "
            f"(one of: {', '.join(vocab.FACTS)})"
        )
    out: dict[str, FactValue] = {}
    for name, fact in vocab.FACTS.items():
        value = given.get(name)
        if value is not None:
            if fact.kind == "bool" and not isinstance(value, bool):
                raise ValueError(f"fact {name!r} must be true, false or null, not {value!r}")
            if fact.kind == "annex_iii_point" and value not in vocab.ANNEX_III_POINTS:
                raise ValueError(
                    f"fact {name!r} must be an Annex III point such as '5b' "
                    f"(one of: {', '.join(vocab.ANNEX_III_POINTS)}), not {value!r}"
                )
        out[name] = value
    implied = vocab.ANNEX_III_IMPLIES.get(str(out.get("annex_iii_area")))
    if implied is not None and out[implied] is None:
        out[implied] = True
    return out


# --- conditions ---------------------------------------------------------------------


def _point_matches(value: str, wanted: Iterable[str]) -> bool:
    return any(value == w or (w.isdigit() and value.rstrip("abcdefgh") == w) for w in wanted)


def _evaluate(condition: Condition, facts: Mapping[str, FactValue]) -> tuple[bool | None, list[str]]:
    """Three-valued: True, False or None (unknown), with the facts that are missing."""
    if condition.fact is not None:
        value = facts.get(condition.fact)
        if value is None:
            return None, [condition.fact]
        if vocab.FACTS[condition.fact].kind == "bool":
            return bool(value), []
        if condition.values:
            return _point_matches(str(value), condition.values), []
        return not _point_matches(str(value), condition.excluding), []
    results = [_evaluate(c, facts) for c in (condition.all_of or condition.any_of)]
    decisive = not condition.all_of  # all_of is settled by a False, any_of by a True
    if any(value is decisive for value, _ in results):
        return decisive, []
    missing = [name for value, names in results if value is None for name in names]
    if missing:
        return None, list(dict.fromkeys(missing))
    return not decisive, []


def _shown(names: Iterable[str], facts: Mapping[str, FactValue]) -> str:
    def show(value: FactValue) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return ", ".join(f"{n}: {show(facts[n])}" for n in names if facts.get(n) is not None)


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def _quoted(names: Iterable[str], joiner: str = "or") -> str:
    items = [f"'{n}'" for n in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {joiner} " + items[-1]


def _labels(actors: Iterable[str]) -> str:
    items = [vocab.ACTOR_LABELS[a] for a in actors]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- the verdict --------------------------------------------------------------------


def assess(
    requirement: Requirement,
    *,
    eu_class: str,
    eu_roles: str | Collection[str],
    facts: Mapping[str, FactValue] | None = None,
    as_of: date,
    horizon_days: int | None = None,
    placed_on_market: date | None = None,
    law: Law = "current",
) -> Verdict:
    """Whether a requirement binds a system on ``as_of``, with the reason.

    Args:
        requirement: any requirement of the library.
        eu_class: the system's class (see :data:`frameworks.vocab.EU_CLASSES`).
        eu_roles: the roles the organisation holds for the system (see
            :data:`frameworks.vocab.EU_ROLES`); ``["provider", "deployer"]`` for a
            system it builds and uses; a single string is one role.
        facts: the system's facts (see :data:`frameworks.vocab.FACTS`); a fact
            left out or None is unknown, and a condition that depends on it gives
            ``needs_review``.
        as_of: the day to decide for.
        horizon_days: report a provision that starts within this many days after
            ``as_of`` as ``upcoming`` (None: report it as not applicable yet).
        placed_on_market: when the system or model was placed on the market, if
            known (selects transitional dates, e.g. Art 111(3) and (4)).
        law: ``current`` (as amended by Reg. (EU) 2026/1744) or ``original``.

    Returns:
        The verdict.

    Raises:
        ValueError: for a class, role or fact outside the vocabulary, or a
            negative horizon.
    """
    if eu_class not in vocab.EU_CLASSES:
        raise ValueError(f"unknown eu_class {eu_class!r} (one of: {', '.join(vocab.EU_CLASSES)})")
    roles = _roles(eu_roles)
    known = normalise_facts(facts)
    if "authorised_representative" in roles and known["non_eu_provider"] is None:
        known["non_eu_provider"] = True  # only a provider outside the Union mandates one
    if horizon_days is not None and horizon_days < 0:
        raise ValueError(f"horizon_days must be 0 or more, not {horizon_days}")

    rule = requirement.applicability
    if not requirement.assessable:
        if rule is not None and rule.kind in _KIND_WORDS:
            what = f"{_KIND_WORDS[rule.kind]}, not a duty of an operator"
        elif rule is not None:
            what = f"it binds {_labels(rule.actors)}, not an operator"
        elif requirement.type == "action":
            what = "suggested action (guidance), not an assessable requirement"
        else:
            what = f"a {requirement.type} that groups requirements, not one itself"
        return Verdict("not_applicable", f"not applicable: {what}")
    if rule is None:
        return Verdict("applicable", f"applies: {requirement.framework} requirements apply to every system")

    ref = requirement.spec.reference or requirement.display_title
    if roles in ((), ("none",)):
        return Verdict("not_applicable", "not applicable: the system has no operator role under the EU AI Act")
    if eu_class not in rule.classes:
        return Verdict(
            "not_applicable", f"not applicable: {vocab.CLASS_LABELS[eu_class]} systems are outside {ref}"
        )
    own = frozenset().union(*(vocab.ROLE_ACTORS[r] for r in roles))
    answers = frozenset().union(*(vocab.ROLE_ACTORS[r] for r in vocab.effective_roles(roles, eu_class)))
    deemed = ""
    if set(rule.actors) & answers and not set(rule.actors) & own:
        deemed = "; the product manufacturer is deemed its provider (Art 25(3))"
    if not set(rule.actors) & answers:
        addressed = [a for a in rule.actors if a in vocab.OPERATOR_ACTORS]
        return Verdict(
            "not_applicable",
            f"not applicable: {ref} binds {_labels(addressed)}, and the system's EU "
            f"role{'s are' if len(roles) > 1 else ' is'} {', '.join(roles)}",
        )

    start = _start(rule, eu_class=eu_class, law=law, placed_on_market=placed_on_market)
    if start is None:
        if law == "original" and rule.original_applies_from is None:
            return Verdict("not_applicable", "not applicable: not in Regulation (EU) 2024/1689 as adopted "
                           "(inserted by Regulation (EU) 2026/1744)")
        return Verdict("not_applicable", f"not applicable: no start date for {vocab.CLASS_LABELS[eu_class]} systems")
    until = rule.applies_until if law == "current" else None
    if until is not None and as_of >= until:
        by = requirement.amendment.by if requirement.amendment else "an amending act"
        return Verdict("not_applicable", f"not applicable since {until}: replaced by {by}",
                       applies_from=start.day, applies_until=until)

    missing: tuple[str, ...] = ()
    if rule.condition is not None:
        holds, names = _evaluate(rule.condition, known)
        if holds is False:
            shown = _shown(rule.condition.facts(), known)
            return Verdict(
                "not_applicable",
                f"not applicable: {_sentence(rule.condition.text or '')}" + (f" ({shown})" if shown else ""),
            )
        missing = tuple(names)

    if start.transitional is not None:
        basis = start.transitional.basis or "transitional rule"
        why = f"placed on the market before {start.transitional.placed_before}, {basis}"
    else:
        basis = rule.basis if law == "current" else "Regulation (EU) 2024/1689 as adopted"
        label = vocab.CLASS_LABELS[eu_class] if start.per_class else ""
        why = ", ".join(x for x in (label, basis) if x)
    review = (
        f"; needs review: the system record does not state {_quoted(missing)}" if missing else ""
    )
    if as_of < start.day:
        upcoming = horizon_days is not None and start.day <= as_of + timedelta(days=horizon_days)
        return Verdict(
            "upcoming" if upcoming else "not_applicable",
            f"applies from {start.day}: {why}{deemed}{review}",
            applies_from=start.day,
            applies_until=until,
            missing_facts=missing,
        )
    if missing:
        return Verdict(
            "needs_review",
            f"needs review: the system record does not state {_quoted(missing)}",
            applies_from=start.day,
            applies_until=until,
            missing_facts=missing,
        )
    lapse = f" until {until}" if until is not None else ""
    return Verdict("applicable", f"applies since {start.day}{lapse}: {why}{deemed}",
                   applies_from=start.day, applies_until=until)


def _facts_from_legacy(facts: Collection[str] | Mapping[str, FactValue] | None) -> dict[str, FactValue] | None:
    if facts is None or isinstance(facts, Mapping):
        return None if facts is None else dict(facts)
    unknown = sorted(set(facts) - set(vocab.FACTS))
    if unknown:
        raise ValueError(f"unknown system fact(s) {', '.join(map(repr, unknown))} (one of: {', '.join(vocab.FACTS)})")
    return {name: name in facts for name, fact in vocab.FACTS.items() if fact.kind == "bool"}


def applies(
    requirement: Requirement,
    *,
    eu_class: str,
    eu_role: str | Collection[str],
    as_of: date,
    facts: Collection[str] | Mapping[str, FactValue] | None = None,
    placed_on_market: date | None = None,
    law: Law = "current",
) -> bool:
    """Whether a requirement binds a system on ``as_of`` (:func:`assess` as yes/no).

    ``needs_review`` counts as yes, so a provision is never dropped because the
    caller did not state a fact.

    Args:
        requirement: any requirement of the library.
        eu_class: the system's ``eu_class`` (see :data:`frameworks.vocab.EU_CLASSES`).
        eu_role: one role (``provider``, ``deployer``, ``none``...) or several.
        as_of: the day to decide for.
        facts: a mapping as for :func:`assess`; or the names of the boolean facts
            that hold (every other boolean fact is then false, the Annex III point
            unknown); None: nothing is known.
        placed_on_market: when the system was placed on the market, if known.
        law: ``current`` or ``original``.

    Returns:
        True when the requirement applies (or needs review).

    Raises:
        ValueError: for an ``eu_class``, ``eu_role`` or fact outside the vocabulary.
    """
    return assess(
        requirement,
        eu_class=eu_class,
        eu_roles=eu_role,
        facts=_facts_from_legacy(facts),
        as_of=as_of,
        placed_on_market=placed_on_market,
        law=law,
    ).binds
