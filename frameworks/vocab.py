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
    "none",
)
"""Operator roles a system owner can hold. The ledger records provider|deployer|none."""

SCOPES: dict[str, frozenset[str]] = {
    "all": frozenset(EU_CLASSES),
    "high_risk": frozenset({"high_risk_annex_i", "high_risk_annex_iii"}),
    "gpai": frozenset({"gpai", "gpai_systemic"}),
    **{c: frozenset({c}) for c in EU_CLASSES},
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
        {"authorised_representative", "gpai_authorised_representative"}
    ),
    "none": frozenset(),
}
"""The actors a system owner in each role answers for (GPAI actors are bounded by scope)."""

OPERATOR_ACTORS: frozenset[str] = frozenset().union(*ROLE_ACTORS.values()) | {
    "third_party_supplier",
    "product_manufacturer",
}
"""Actors that are operators (not authorities or affected persons)."""

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
}
"""Record kinds that can be bound to a model version, and the field that names it."""
