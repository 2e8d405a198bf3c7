"""The fines an EU AI Act provision exposes an organisation to (Arts 99-101).

Penalties are information about a gap, not obligations: nothing here is
assessed or covered. For a binding provision, :func:`penalties` names the
paragraph of Art 99 or 101 that fines its breach, the ceiling, who imposes it
and from when, and through which article the provision is reached (Art 99(4)
lists Art 16 for providers, and Art 16 points to Arts 8-15, 17-20, 43, 47-49).

The text is Regulation (EU) 2024/1689 as amended by Regulation (EU) 2026/1744
(Digital Omnibus on AI, Art 1 point 38): Art 99(1) replaced (Member States set
penalties and other enforcement measures for any infringement by operators);
Art 99(4) point (da) inserted (Art 25(2) and (4)); Art 99(6a) inserted (SMCs pay
the lower of the two ceilings in paragraphs 4 and 5). Chapter XII applies from
2025-08-02 except Art 101, which applies from 2026-08-02 (Art 113(b)).

Art 100 (fines on Union institutions, bodies, offices and agencies, imposed by
the European Data Protection Supervisor) is not modelled: the organisations
Assure serves are operators, not Union bodies. Nothing here is legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

from frameworks import vocab
from frameworks.library import Requirement

Tier = Literal["99(3)", "99(4)", "99(5)", "101", "99(1)"]
Law = Literal["current", "original"]

OMNIBUS_IN_FORCE = date(2026, 7, 27)
_CHAPTER_XII = date(2025, 8, 2)
_ART_101 = date(2026, 8, 2)


@dataclass(frozen=True)
class Penalty:
    """One fine a provision's breach exposes the organisation to.

    Attributes:
        tier: ``99(3)`` prohibited practices, ``99(4)`` listed operator
            obligations, ``99(5)`` incorrect information to authorities, ``101``
            Commission fines on GPAI model providers, ``99(1)`` penalties set by
            Member State law (the Regulation sets no ceiling).
        reference: the paragraph and point that lists the breach
            (``Art 99(4)(a)``).
        offence: what is fined, in the Regulation's words.
        max_eur: the fixed ceiling in euro, if the Regulation sets one.
        max_turnover_percent: the ceiling as a share of total worldwide annual
            turnover of the preceding financial year, if set.
        imposed_by: who imposes it.
        applies_from: the day the fine can be imposed from.
        via: the article that brings the provision under ``reference``
            (``Art 16(c)`` for Art 17), if not listed directly.
        actors: who is exposed, as the provision's actors (Art 73(2)-(4) fine
            providers and deployers under different paragraphs).
        smaller_firms: how the ceiling changes for SMEs and SMCs.
        amended: how Reg. (EU) 2026/1744 changed the paragraph, if it did.
    """

    tier: Tier
    reference: str
    offence: str
    max_eur: int | None
    max_turnover_percent: int | None
    imposed_by: str
    applies_from: date
    via: str | None = None
    actors: tuple[str, ...] = ()
    smaller_firms: str | None = None
    amended: str | None = None

    @property
    def ceiling(self) -> str:
        """The ceiling in words, e.g. ``up to EUR 15 000 000 or 3 % of ... whichever is higher``."""
        if self.max_eur is None or self.max_turnover_percent is None:
            return "penalties set by Member State law (no ceiling in the Regulation)"
        eur = f"{self.max_eur:,}".replace(",", " ")
        return (
            f"up to EUR {eur} or {self.max_turnover_percent} % of total worldwide annual "
            "turnover, whichever is higher"
        )

    @property
    def summary(self) -> str:
        """One line: the point, the route and the ceiling."""
        via = f" via {self.via}" if self.via else ""
        small = f" ({self.smaller_firms})" if self.smaller_firms else ""
        return f"{self.reference}{via}: {self.ceiling}{small}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (absent values left out)."""
        out: dict[str, Any] = {
            "tier": self.tier,
            "reference": self.reference,
            "offence": self.offence,
            "max_eur": self.max_eur,
            "max_turnover_percent": self.max_turnover_percent,
            "imposed_by": self.imposed_by,
            "applies_from": self.applies_from.isoformat(),
            "summary": self.summary,
        }
        for key in ("via", "smaller_firms", "amended"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.actors:
            out["actors"] = list(self.actors)
        return out


_SME = "SMEs, including start-ups: whichever is lower (Art 99(6))"
_SME_SMC = "SMEs, including start-ups, and SMCs: whichever is lower (Art 99(6), (6a))"
_STATES = "Member State authorities"


def _tiers(law: Law) -> dict[Tier, Penalty]:
    small = _SME_SMC if law == "current" else _SME
    return {
        "99(3)": Penalty(
            "99(3)", "Art 99(3)",
            "non-compliance with the prohibition of the AI practices referred to in Article 5",
            35_000_000, 7, _STATES, _CHAPTER_XII, smaller_firms=_SME,
        ),
        "99(4)": Penalty(
            "99(4)", "Art 99(4)",
            "non-compliance with the provisions related to operators listed in Art 99(4)",
            15_000_000, 3, _STATES, _CHAPTER_XII, smaller_firms=small,
        ),
        "99(5)": Penalty(
            "99(5)", "Art 99(5)",
            "the supply of incorrect, incomplete or misleading information to notified bodies or "
            "national competent authorities in reply to a request",
            7_500_000, 1, _STATES, _CHAPTER_XII, smaller_firms=small,
        ),
        "101": Penalty(
            "101", "Art 101(1)",
            "a provider of a general-purpose AI model intentionally or negligently infringing the "
            "relevant provisions, or failing a request or measure of the Commission",
            15_000_000, 3, "the Commission", _ART_101,
        ),
        "99(1)": Penalty(
            "99(1)", "Art 99(1)",
            "any other infringement of the Regulation by operators"
            if law == "current"
            else "infringements of the Regulation by operators",
            None, None, _STATES, _CHAPTER_XII,
            smaller_firms="the interests and economic viability of SMEs, including start-ups, "
            + ("and SMCs, " if law == "current" else "")
            + "are taken into account",
            amended=f"replaced by Reg. (EU) 2026/1744 (in force {OMNIBUS_IN_FORCE})"
            if law == "current"
            else None,
        ),
    }


# Art 99(4): the operator obligations it lists, by point.
_POINTS_99_4 = {16: "a", 22: "b", 23: "c", 24: "d", 26: "e", 50: "g"}
# Articles reached through a point of Art 16 (Art 16(a): the Section 2 requirements).
_VIA_16 = {8: "a", 9: "a", 10: "a", 11: "a", 12: "a", 13: "a", 14: "a", 15: "a",
           17: "c", 18: "d", 19: "e", 20: "j", 43: "f", 47: "g", 48: "h"}
_VIA_EXACT = {"Art 21(1)": ("a", "Art 16(k)"), "Art 49(1)": ("a", "Art 16(i)"),
              "Art 49(3)": ("e", "Art 26(8)")}
# Duties to give competent authorities information or documents on request: a wrong
# answer is also fined under Art 99(5).
_INFO_ON_REQUEST = frozenset({"Art 6(4)", "Art 16(k)", "Art 21(1)", "Art 21(2)", "Art 22(3)",
                              "Art 23(6)", "Art 24(5)", "Art 47(1)"})
_GPAI_PROVIDERS = frozenset({"gpai_provider", "gpai_systemic_risk_provider"})


def _article(reference: str) -> tuple[int, str]:
    m = re.match(r"Art (\d+)[a-z]?(?:\((\w+)\))?", reference)
    if m is None:
        raise ValueError(f"not an article reference: {reference!r}")
    return int(m.group(1)), m.group(2) or ""


def _listed(penalty: Penalty, point: str, via: str | None = None, **kw: Any) -> Penalty:
    return replace(penalty, reference=f"Art 99(4)({point})", via=via, **kw)


def penalties(
    requirement: Requirement,
    *,
    eu_roles: str | Collection[str] | None = None,
    eu_class: str | None = None,
    law: Law = "current",
) -> tuple[Penalty, ...]:
    """The fines a breach of an EU AI Act provision exposes the organisation to.

    Args:
        requirement: any requirement; only binding EU AI Act provisions have
            penalties.
        eu_roles: if given, only the fines for these roles' duties (a product
            manufacturer of an Annex I system counts as its provider, Art 25(3)).
        eu_class: the system's class, for that rule.
        law: ``current`` (as amended by Reg. (EU) 2026/1744) or ``original``.

    Returns:
        The fines, most severe first; empty for a requirement that is not a
        binding EU AI Act provision (or binds none of ``eu_roles``).
    """
    rule = requirement.applicability
    if requirement.framework != "eu-ai-act" or rule is None or not requirement.assessable:
        return ()
    actors = set(rule.actors) & vocab.OPERATOR_ACTORS
    if eu_roles is not None:
        held = vocab.effective_roles(eu_roles, eu_class)
        actors &= frozenset().union(*(vocab.ROLE_ACTORS[r] for r in held))
    if not actors:
        return ()
    tiers = _tiers(law)
    reference = requirement.spec.reference or ""
    article, paragraph = _article(reference)
    found: list[Penalty] = []
    if article == 5:
        found.append(tiers["99(3)"])
    elif article in (53, 54, 55) and actors & _GPAI_PROVIDERS:
        found.append(tiers["101"])
    elif article in _POINTS_99_4 and (article != 22 or paragraph in ("3", "4")):
        found.append(_listed(tiers["99(4)"], _POINTS_99_4[article]))
    elif reference in _VIA_EXACT:
        point, via = _VIA_EXACT[reference]
        found.append(_listed(tiers["99(4)"], point, via))
    elif article in _VIA_16:
        found.append(_listed(tiers["99(4)"], "a", f"Art 16({_VIA_16[article]})"))
    elif article == 25 and paragraph in ("2", "4") and law == "current":
        found.append(_listed(
            tiers["99(4)"], "da", applies_from=OMNIBUS_IN_FORCE,
            amended=f"point (da) inserted by Reg. (EU) 2026/1744 (in force {OMNIBUS_IN_FORCE})",
        ))
    elif article == 73 and "deployer" in actors:
        # A deployer reports serious incidents under Art 26(5), which applies Art 73
        # where it cannot reach the provider; the provider's own duty is not listed.
        found.append(_listed(tiers["99(4)"], "e", "Art 26(5)", actors=("deployer",)))
        if actors - {"deployer"}:
            found.append(replace(tiers["99(1)"], actors=tuple(sorted(actors - {"deployer"}))))
    else:
        found.append(tiers["99(1)"])
    if reference in _INFO_ON_REQUEST:
        found.append(tiers["99(5)"])
    return tuple(found)


def fine_tier(
    requirement: Requirement,
    *,
    eu_roles: str | Collection[str] | None = None,
    eu_class: str | None = None,
    law: Law = "current",
) -> Penalty | None:
    """The most severe fine a breach of the provision exposes the organisation to.

    See :func:`penalties` for the arguments; None when there is none.
    """
    found = penalties(requirement, eu_roles=eu_roles, eu_class=eu_class, law=law)
    return found[0] if found else None
