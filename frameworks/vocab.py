"""Closed vocabularies shared by the framework schema and the applicability rules.

The EU AI Act terms (system classes, roles, actors, provision kinds) are the
ones the ledger's ``system`` record uses (``eu_class``, ``eu_role``) plus the
actor names of the staged regulation data. Evidence-record kinds and the fields
an evidence rule may filter on are read from :mod:`ledger.records`, so a
control catalog cannot name a field the ledger does not store.

This module holds data only; it does not decide applicability (see
:mod:`frameworks.applicability`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from ledger import records

_COMMON_RECORD_FIELDS = frozenset(
    {"kind", "system", "observed_at", "valid_until", "controls", "artifacts", "supersedes", "notes"}
)

_EVIDENCE_MODELS: dict[str, type[Any]] = {
    "system": records.SystemRecord,
    "model_version": records.ModelVersionRecord,
    "evaluation": records.EvaluationRecord,
    "risk_assessment": records.RiskAssessmentRecord,
    "approval": records.ApprovalRecord,
    "exception": records.ExceptionRecord,
    "incident": records.IncidentRecord,
    "document": records.DocumentRecord,
}

RECORD_KINDS: tuple[str, ...] = tuple(_EVIDENCE_MODELS)
"""Record kinds an evidence rule can ask for."""


def _scalar_choices(annotation: Any) -> tuple[type, ...] | tuple[Any, ...] | None:
    """The allowed values of a scalar field: Literal choices, a type tuple, or None."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _scalar_choices(get_args(annotation)[0])
    if origin is Literal:
        return tuple(get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _scalar_choices(args[0]) if len(args) == 1 else None
    if annotation in (str, bool, int, float):
        return (annotation,)
    return None


def _filter_fields(model: type[Any]) -> dict[str, tuple[Any, ...]]:
    fields: dict[str, tuple[Any, ...]] = {}
    for name, info in model.model_fields.items():
        if name in _COMMON_RECORD_FIELDS:
            continue
        choices = _scalar_choices(info.annotation)
        if choices is None and info.metadata:
            choices = _scalar_choices(typing.Annotated[(info.annotation, *info.metadata)])
        if choices is not None:
            fields[name] = choices
    return fields


FILTER_FIELDS: dict[str, dict[str, tuple[Any, ...]]] = {
    kind: _filter_fields(model) for kind, model in _EVIDENCE_MODELS.items()
}
# An approval's target is an entry hash; what a rule asks is which kind of entry it approves
# (``target_kind: model_version``: a release approval). Coverage resolves it from the target.
FILTER_FIELDS["approval"]["target_kind"] = tuple(_EVIDENCE_MODELS)
"""Per record kind: the scalar fields a filter may test, with their allowed values
(a tuple of Literal choices) or types (a tuple of Python types)."""


RISK_TIERS: tuple[str, ...] = FILTER_FIELDS["system"]["risk_tier"]
"""Internal risk tiers of a system (``system.risk_tier``)."""

EU_CLASSES: tuple[str, ...] = FILTER_FIELDS["system"]["eu_class"]
"""EU AI Act class of a system (``system.eu_class``)."""


EU_ROLES: tuple[str, ...] = (
    "provider",
    "deployer",
    "importer",
    "distributor",
    "authorised_representative",
    "product_manufacturer",
    "none",
)
"""Operator roles (Art 3(8)) a system owner can hold; a system may hold several
(provider and deployer of its own system, say). ``none`` means no role under the Act.
The ledger's ``system`` record stores one of provider|deployer|none today."""

SCOPES: dict[str, frozenset[str]] = {
    **{c: frozenset({c}) for c in EU_CLASSES},
    # After the classes, so that "gpai" (a general-purpose AI model, Chapter V)
    # also covers models with systemic risk: Art 53 binds their providers too.
    "all": frozenset(EU_CLASSES),
    "high_risk": frozenset({"high_risk_annex_i", "high_risk_annex_iii"}),
    "gpai": frozenset({"gpai", "gpai_systemic"}),
    "not_prohibited": frozenset(EU_CLASSES) - {"prohibited"},
}
"""Scope names usable in a provision's ``scope`` and the system classes each covers."""

ACTORS: tuple[str, ...] = (
    "provider",
    "deployer",
    "importer",
    "distributor",
    "authorised_representative",
    "product_manufacturer",
    "third_party_supplier",
    "gpai_provider",
    "gpai_systemic_risk_provider",
    "gpai_authorised_representative",
    "any_operator",
    "affected_person",
    "commission",
    "ai_office",
    "member_state",
    "market_surveillance_authority",
)
"""Who a provision addresses (the staged EU AI Act data's actor vocabulary)."""

ROLE_ACTORS: dict[str, frozenset[str]] = {
    "provider": frozenset(
        {"provider", "gpai_provider", "gpai_systemic_risk_provider", "any_operator"}
    ),
    "deployer": frozenset({"deployer", "any_operator"}),
    "importer": frozenset({"importer", "any_operator"}),
    "distributor": frozenset({"distributor", "any_operator"}),
    "authorised_representative": frozenset(
        {"authorised_representative", "gpai_authorised_representative", "any_operator"}
    ),
    "product_manufacturer": frozenset({"product_manufacturer", "any_operator"}),
    "none": frozenset(),
}
"""The actors a system owner in each role answers for (GPAI actors are bounded by
scope). Every role but ``none`` is an operator (Art 3(8)), so answers for
``any_operator``. A product manufacturer is also deemed the provider of an Annex I
system (Art 25(3)); :mod:`frameworks.applicability` applies that rule."""

def effective_roles(roles: str | Iterable[str], eu_class: str | None) -> frozenset[str]:
    """The roles whose duties a system owner carries, after Art 25(3).

    A product manufacturer placing an Annex I system on the market (or putting it
    into service) under its own name is deemed its provider, so it carries the
    provider's duties as well.

    Args:
        roles: one role or several (:data:`EU_ROLES`).
        eu_class: the system's class, if known.

    Returns:
        The roles, plus ``provider`` where Art 25(3) makes the owner one.
    """
    held = frozenset((roles,) if isinstance(roles, str) else roles)
    if "product_manufacturer" in held and eu_class == "high_risk_annex_i":
        held |= {"provider"}
    return held



OPERATOR_ACTORS: frozenset[str] = frozenset().union(*ROLE_ACTORS.values()) | {
    "third_party_supplier",
}
"""Actors that are operators (not authorities or affected persons)."""

ACTOR_LABELS: dict[str, str] = {
    "provider": "providers",
    "deployer": "deployers",
    "importer": "importers",
    "distributor": "distributors",
    "authorised_representative": "authorised representatives",
    "product_manufacturer": "product manufacturers",
    "third_party_supplier": "third-party suppliers",
    "gpai_provider": "providers of general-purpose AI models",
    "gpai_systemic_risk_provider": "providers of general-purpose AI models with systemic risk",
    "gpai_authorised_representative": "authorised representatives of GPAI model providers",
    "any_operator": "any operator",
    "affected_person": "affected persons",
    "commission": "the Commission",
    "ai_office": "the AI Office",
    "member_state": "Member States",
    "market_surveillance_authority": "market surveillance authorities",
}
"""How reasons name each actor (plural, as the Regulation addresses them)."""

CLASS_LABELS: dict[str, str] = {
    "prohibited": "prohibited-practice",
    "high_risk_annex_i": "Annex I high-risk",
    "high_risk_annex_iii": "Annex III high-risk",
    "limited": "limited-risk",
    "minimal": "minimal-risk",
    "gpai": "general-purpose AI model",
    "gpai_systemic": "systemic-risk general-purpose AI model",
}
"""How reasons name each ``eu_class``."""

ANNEX_III_POINTS: tuple[str, ...] = (
    "1a", "1b", "1c", "2", "3a", "3b", "3c", "3d", "4a", "4b", "5a", "5b", "5c", "5d",
    "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c", "7d", "8a", "8b",
)
"""The use cases of Annex III, by point and letter (point 2 has no letters)."""


@dataclass(frozen=True)
class Fact:
    """A fact about a system that a provision's condition may depend on.

    Attributes:
        name: the key in a system's facts (``interacts_with_persons``).
        kind: ``bool``, or ``annex_iii_point`` (a value of :data:`ANNEX_III_POINTS`).
        meaning: what a true value (or the value) says about the system.
        used_by: the provisions whose condition reads it.
    """

    name: str
    kind: Literal["bool", "annex_iii_point"]
    meaning: str
    used_by: str


FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact("interacts_with_persons", "bool",
             "The system is intended to interact directly with natural persons.",
             "Art 50(1), 50(5)"),
        Fact("generates_synthetic_content", "bool",
             "The system generates synthetic audio, image, video or text content.",
             "Art 50(2), 50(5)"),
        Fact("emotion_recognition", "bool",
             "The system is an emotion recognition system (Annex III point 1(c) implies it).",
             "Art 50(3), 50(5)"),
        Fact("biometric_categorisation", "bool",
             "The system is a biometric categorisation system (Annex III point 1(b) implies it).",
             "Art 50(3), 50(5)"),
        Fact("deep_fake", "bool",
             "The system generates or manipulates image, audio or video content that is a "
             "deep fake.", "Art 50(4), 50(5)"),
        Fact("published_ai_text", "bool",
             "The system generates or manipulates text published to inform the public on "
             "matters of public interest.", "Art 50(4), 50(5)"),
        Fact("remote_biometric_identification", "bool",
             "The system is a remote biometric identification system (Annex III point 1(a) "
             "implies it).", "Art 5(3), 5(4), 12(3), 14(5), 26(10)"),
        Fact("real_time_rbi_law_enforcement", "bool",
             "The system is used for real-time remote biometric identification in publicly "
             "accessible spaces for law enforcement (Art 5(1)(h)).", "Art 5(3), 5(4)"),
        Fact("post_remote_rbi_law_enforcement", "bool",
             "The system is used for post-remote biometric identification in the targeted "
             "search for a person suspected or convicted of a criminal offence.", "Art 26(10)"),
        Fact("law_enforcement_use", "bool",
             "The system is used in law enforcement, migration, asylum or border control "
             "management.", "Art 49(4)"),
        Fact("public_sector_deployer", "bool",
             "The deployer is a public authority, a body governed by public law, or a Union "
             "institution, body, office or agency.", "Art 26(8), 27, 49(3)"),
        Fact("provides_public_service", "bool",
             "The deployer is a private entity providing public services.", "Art 27"),
        Fact("annex_iii_area", "annex_iii_point",
             "The Annex III use case the system is high-risk under, as point and letter "
             "(e.g. '5b' for creditworthiness, '2' for critical infrastructure).",
             "Art 16(i), 27, 43(1), 43(2), 49(1), 49(3), 49(4), 49(5), 86(1)"),
        Fact("annex_iii_derogation", "bool",
             "The provider has assessed an Annex III system as not high-risk under Art 6(3).",
             "Art 6(4), 49(2)"),
        Fact("non_eu_provider", "bool",
             "The provider is established outside the Union.", "Art 22(1), 22(2), 54(1), "
             "54(2), 54(4)"),
        Fact("workplace_use", "bool",
             "The deployer is an employer putting the system into service or using it at "
             "the workplace.", "Art 26(7)"),
        Fact("decides_about_persons", "bool",
             "The system makes, or assists in making, decisions about natural persons.",
             "Art 26(11), 86(1)"),
    )
}
"""The system facts EU AI Act conditions read, by name. A missing fact (None) is
unknown: a provision whose condition depends on it needs review."""

ANNEX_III_IMPLIES: dict[str, str] = {
    "1a": "remote_biometric_identification",
    "1b": "biometric_categorisation",
    "1c": "emotion_recognition",
}
"""Boolean facts an Annex III point makes true when the record leaves them unstated."""

PROVISION_KINDS: tuple[str, ...] = (
    "requirement",
    "obligation",
    "prohibition",
    "right",
    "permission",
    "exemption",
    "clarification",
    "classification",
    "authority_task",
)
"""Kinds of EU AI Act provision (staged data ``kind_vocabulary``)."""

BINDING_KINDS: frozenset[str] = frozenset({"requirement", "obligation", "prohibition", "right"})
"""Provision kinds that put a duty on an operator (a right binds the deployer)."""

RELATIONS: tuple[str, ...] = ("equivalent", "subset", "superset", "intersect", "related")
"""Crosswalk relations (NIST IR 8477 set-theory terms plus ``related``)."""

INVERSE_RELATION: dict[str, str] = {
    "equivalent": "equivalent",
    "subset": "superset",
    "superset": "subset",
    "intersect": "intersect",
    "related": "related",
}
"""The relation read in the other direction (A subset of B = B superset of A)."""

MODEL_VERSION_FIELD: dict[str, str] = {
    kind: ("version" if kind == "model_version" else "model_version")
    for kind, fields in FILTER_FIELDS.items()
    if kind == "model_version" or "model_version" in fields
} | {"approval": "target"}
"""Record kinds that can be bound to a model version, and the field that names it (an
approval is bound to the model version it approves)."""
