"""Pydantic mirror of the YAML formats for frameworks, crosswalks and control catalogs.

Three file formats share one library, told apart by the top-level ``format`` key:

* ``assure-framework/1``: one framework (NIST AI RMF, ISO/IEC 42001, ...) as a
  flat list of requirements whose ``parent`` links form the hierarchy;
* ``assure-crosswalk/1``: requirement-to-requirement mappings between frameworks,
  each with a relation and the source they come from;
* ``assure-controls/1``: internal controls, the requirements they satisfy and the
  evidence rule that proves them.

Every model forbids unknown fields and is frozen. These models check each file on
its own; references between files (a control naming a requirement, a parent
that must exist, cycles) are checked by :mod:`frameworks.loader`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StringConstraints,
    Tag,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from frameworks import vocab

FRAMEWORK_FORMAT = "assure-framework/1"
CROSSWALK_FORMAT = "assure-crosswalk/1"
CONTROLS_FORMAT = "assure-controls/1"
FORMATS = (FRAMEWORK_FORMAT, CROSSWALK_FORMAT, CONTROLS_FORMAT)

def _pattern(pattern: str, expected: str) -> Any:
    """A string type checked against ``pattern``, with an error a person can act on."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not {expected}")
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "pattern": f"^{pattern}$"})
    ]


FrameworkId = _pattern(
    r"[a-z0-9][a-z0-9-]{0,63}", "an id of lower-case letters, digits and '-' (e.g. nist-ai-rmf)"
)
LocalId = _pattern(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
    "a requirement id of letters, digits, '.', '_' and '-' (e.g. GOVERN-1.1, A.6.2.4, Art-9.2)",
)
NodeId = _pattern(
    r"[a-z0-9][a-z0-9-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
    "a requirement reference <framework>:<id> (e.g. nist-ai-rmf:GOVERN-1.1)",
)
"""A requirement's global id: ``<framework id>:<requirement id>``."""
ControlId = _pattern(
    r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)+", "a control id of upper-case words joined by '-' (e.g. GOV-01)"
)
"""An internal control id such as ``GOV-01`` or ``EVAL-FAIR-01``."""
Slug = _pattern(r"[a-z][a-z0-9_-]{0,63}", "a lower-case name (letters, digits, '_', '-')")
Text = Annotated[str, StringConstraints(min_length=1)]

RiskTier = Literal[vocab.RISK_TIERS]  # type: ignore[valid-type]
EuClass = Literal[vocab.EU_CLASSES]  # type: ignore[valid-type]
EuRole = Literal[vocab.EU_ROLES]  # type: ignore[valid-type]
Actor = Literal[vocab.ACTORS]  # type: ignore[valid-type]
Scope = Literal[tuple(vocab.SCOPES)]  # type: ignore[valid-type]
ProvisionKind = Literal[vocab.PROVISION_KINDS]  # type: ignore[valid-type]
Relation = Literal[vocab.RELATIONS]  # type: ignore[valid-type]
RecordKind = Literal[vocab.RECORD_KINDS]  # type: ignore[valid-type]
DateKey = Literal[("all", *vocab.EU_CLASSES)]  # type: ignore[valid-type]
FilterValue = str | bool | int | float


class _Model(BaseModel):
    # defer_build: a validator is built on first validation (loading YAML), not when the class is
    # defined; a query unpickles the cached library (frameworks.disk_cache) and validates nothing.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SourceInfo(_Model):
    """Where a file's content comes from and under which licence it is reused."""

    title: Text
    publisher: Text | None = None
    url: Text | None = None
    published: Text | None = None
    licence: Text
    attribution: Text | None = None
    notes: list[Text] = []


# --- frameworks ---------------------------------------------------------------


class FrameworkInfo(_Model):
    """Identity of a framework: the ``framework`` block of a framework file.

    ``assessable: false`` marks guidance that coverage does not assess, such as
    a profile of another framework (``profile_of``) whose suggested actions are
    reached through a crosswalk to that framework's outcomes. Such a framework
    has no assessable requirements.
    """

    id: FrameworkId
    name: Text
    short_name: Text | None = None
    version: Text
    description: Text | None = None
    assessable: bool = True
    profile_of: FrameworkId | None = None


class VocabularyEntry(_Model):
    """One term of a framework-defined tag vocabulary (e.g. an AI 600-1 GAI risk)."""

    name: Text
    description: Text | None = None
    reference: Text | None = None


_POINT_VALUES = frozenset(vocab.ANNEX_III_POINTS) | {p[0] for p in vocab.ANNEX_III_POINTS}


class Condition(_Model):
    """Facts about a system without which a provision does not bind it.

    A leaf names one ``fact`` of :data:`frameworks.vocab.FACTS`. A boolean fact
    holds when it is true; an Annex III point fact holds when its value is one of
    ``values`` (or none of ``excluding``), where a bare point number (``"5"``)
    stands for all its letters (``"5a"`` ... ``"5d"``). ``all_of`` and ``any_of``
    combine conditions. ``text`` says in words what the condition requires; the
    top-level condition of a provision must have one.
    """

    text: Text | None = None
    fact: Slug | None = None
    values: list[Text] = []
    excluding: list[Text] = []
    all_of: list[Condition] = []
    any_of: list[Condition] = []

    @model_validator(mode="after")
    def _well_formed(self) -> Condition:
        forms = [self.fact is not None, bool(self.all_of), bool(self.any_of)]
        if sum(forms) != 1:
            raise ValueError("a condition has exactly one of: fact, all_of, any_of")
        if self.fact is None:
            if self.values or self.excluding:
                raise ValueError("values and excluding go with a fact")
            return self
        known = vocab.FACTS.get(self.fact)
        if known is None:
            raise ValueError(
                f"unknown fact {self.fact!r} (one of: {', '.join(vocab.FACTS)})"
            )
        if known.kind == "bool":
            if self.values or self.excluding:
                raise ValueError(f"{self.fact} is true or false: it takes no values")
            return self
        if bool(self.values) == bool(self.excluding):
            raise ValueError(f"{self.fact} needs either values or excluding")
        bad = sorted(set(self.values + self.excluding) - _POINT_VALUES)
        if bad:
            raise ValueError(f"{', '.join(bad)}: not an Annex III point (e.g. 5, 5b, 2)")
        return self

    def facts(self) -> list[str]:
        """The fact names this condition reads, in order, without repeats."""
        if self.fact is not None:
            return [self.fact]
        names = [f for c in (*self.all_of, *self.any_of) for f in c.facts()]
        return list(dict.fromkeys(names))


class Transitional(_Model):
    """A later start date for systems or models placed on the market before a date.

    ``in_original`` is false when an amending act introduced the rule, so it does
    not apply when answering for the act as first adopted.
    """

    placed_before: date
    applies_from: date
    basis: Text | None = None
    in_original: bool = True


def _check_dates(
    dates: dict[str, date] | None, classes: frozenset[str], name: str
) -> dict[str, date] | None:
    if dates is None:
        return None
    if "all" in dates:
        return dates
    missing = sorted(classes - set(dates))
    if missing:
        raise ValueError(f"{name} gives no date for {', '.join(missing)} (add them or 'all')")
    return dates


class Applicability(_Model):
    """Who a regulatory provision binds, for which systems, and from when.

    ``applies_from`` maps a system class (or ``all``) to the date the provision
    starts to apply under the law as it stands now; ``original_applies_from``
    keeps the dates of the act as first adopted (null for provisions an
    amendment inserted). ``applies_until`` is the date a provision was repealed
    or replaced.
    """

    kind: ProvisionKind
    actors: Annotated[list[Actor], Field(min_length=1)]
    scope: Annotated[list[Scope], Field(min_length=1)]
    applies_from: Annotated[dict[DateKey, date], Field(min_length=1)]
    original_applies_from: dict[DateKey, date] | None = None
    applies_until: date | None = None
    transitional: list[Transitional] = []
    condition: Condition | None = None
    basis: Text | None = None
    note: Text | None = None

    @property
    def classes(self) -> frozenset[str]:
        """The system classes (``eu_class`` values) this provision can concern."""
        return frozenset().union(*(vocab.SCOPES[s] for s in self.scope))

    @property
    def binding(self) -> bool:
        """Whether the provision puts a duty on an operator (not a permission or note)."""
        return self.kind in vocab.BINDING_KINDS and bool(
            set(self.actors) & vocab.OPERATOR_ACTORS
        )

    @model_validator(mode="after")
    def _dates_cover_scope(self) -> Applicability:
        if self.condition is not None and self.condition.text is None:
            raise ValueError("a provision's condition needs a text saying what it requires")
        _check_dates(self.applies_from, self.classes, "applies_from")
        _check_dates(self.original_applies_from, self.classes, "original_applies_from")
        return self


class Amendment(_Model):
    """How an amending act changed a provision."""

    status: Literal["replaced", "partially_replaced", "inserted", "deleted"]
    by: Text
    item: Text | None = None
    action: Text | None = None


class RequirementSpec(_Model):
    """One node of a framework's hierarchy as written in YAML.

    ``assessable`` is false for grouping nodes (a NIST function, an ISO clause
    heading, an EU AI Act article) and for provisions that bind no operator;
    controls may only claim to satisfy assessable requirements.
    """

    id: LocalId
    type: Slug
    parent: LocalId | None = None
    title: Text | None = None
    text: Text | None = None
    text_original: Text | None = None
    summary: Text | None = None
    reference: Text | None = None
    aliases: list[Text] = []
    assessable: bool = True
    tags: dict[Slug, list[Text]] = {}
    applicability: Applicability | None = None
    amendment: Amendment | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _has_words(self) -> RequirementSpec:
        if not (self.title or self.text or self.summary):
            raise ValueError("a requirement needs at least one of title, text or summary")
        return self


class FrameworkFile(_Model):
    """A framework definition file (``format: assure-framework/1``)."""

    format: Literal["assure-framework/1"]
    framework: FrameworkInfo
    source: SourceInfo
    vocabularies: dict[Slug, dict[Text, VocabularyEntry]] = {}
    requirements: Annotated[list[RequirementSpec], Field(min_length=1)]


# --- crosswalks ---------------------------------------------------------------


class CrosswalkInfo(_Model):
    """Identity of a crosswalk: the ``crosswalk`` block of a crosswalk file."""

    id: FrameworkId
    title: Text
    reviewed: bool = True
    relation_semantics: Text | None = None


REVIEW_FLAGS = frozenset({"needs_review", "suspected_source_error"})
"""Flags that put a mapping in doubt: coverage inferred through it is at most partial."""


class CrosswalkMapping(_Model):
    """One requirement-to-requirement mapping, read from ``from`` to ``to``.

    ``flags`` qualify the mapping: ``needs_review`` (a reviewer doubts it; the
    ``note`` says why), ``suspected_source_error`` (the source contradicts
    itself), ``unreviewed`` (nobody has reviewed it yet).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    source: NodeId = Field(alias="from")
    target: NodeId = Field(alias="to")
    relation: Relation
    source_relation: Text | None = None
    confidence: Literal["high", "medium", "low"] | None = None
    flags: list[Slug] = []
    note: Text | None = None
    via: list[Text] = []

    @property
    def needs_review(self) -> bool:
        """Whether the mapping is in doubt (see :data:`REVIEW_FLAGS`)."""
        return bool(REVIEW_FLAGS & set(self.flags))

    @model_validator(mode="after")
    def _doubt_has_a_reason(self) -> CrosswalkMapping:
        if "needs_review" in self.flags and not self.note:
            raise ValueError("a mapping flagged needs_review needs a note with the rationale")
        return self


class CrosswalkFile(_Model):
    """A crosswalk file (``format: assure-crosswalk/1``)."""

    format: Literal["assure-crosswalk/1"]
    crosswalk: CrosswalkInfo
    source: SourceInfo
    mappings: Annotated[list[CrosswalkMapping], Field(min_length=1)]


# --- control catalogs ---------------------------------------------------------


class EvidenceRequirement(_Model):
    """A leaf evidence rule: a record of ``kind`` whose fields equal ``filters``.

    ``max_age_days`` bounds how old the record may be; ``bound_to_model_version``
    says whether it must name the system's current model version (defaults to
    true for evaluations, false otherwise); ``explicit`` says only records that
    list the control in their ``controls`` field count (for generic documents
    such as policies, which would otherwise satisfy every policy control);
    ``automated`` hints that a pipeline produces the record.
    """

    kind: RecordKind
    filters: dict[str, FilterValue] = {}
    max_age_days: Annotated[int, Field(gt=0)] | None = None
    bound_to_model_version: bool | None = None
    explicit: bool = False
    automated: bool = False
    description: Text | None = None

    @property
    def binds_model_version(self) -> bool:
        """Whether matching evidence must be for the system's current model version."""
        if self.bound_to_model_version is None:
            return self.kind == "evaluation"
        return self.bound_to_model_version

    @model_validator(mode="after")
    def _known_fields(self) -> EvidenceRequirement:
        fields = vocab.FILTER_FIELDS[self.kind]
        for name, value in self.filters.items():
            if name not in fields:
                raise ValueError(
                    f"filter field {name!r} does not exist on {self.kind} records "
                    f"(one of: {', '.join(sorted(fields))})"
                )
            allowed = fields[name]
            if all(isinstance(a, type) for a in allowed):
                if not isinstance(value, allowed) or (
                    isinstance(value, bool) and bool not in allowed
                ):
                    want = "/".join(a.__name__ for a in allowed)
                    raise ValueError(f"filter {name!r} must be a {want}, got {value!r}")
            elif value not in allowed:
                raise ValueError(
                    f"filter {name!r} has value {value!r}, not one of: "
                    + ", ".join(map(str, allowed))
                )
        if self.bound_to_model_version and self.kind not in vocab.MODEL_VERSION_FIELD:
            raise ValueError(f"{self.kind} records carry no model version to bind to")
        return self

    def matches(self, record: dict[str, Any], *, control_id: str | None = None) -> bool:
        """Whether a record (as a mapping) has this kind and every filtered value.

        Args:
            record: the record's fields.
            control_id: the control being proven; required for ``explicit`` rules,
                which only accept records that list it in ``controls``.

        Age and model-version binding depend on the system and the date, so they
        are left to the coverage computation.
        """
        if record.get("kind") != self.kind:
            return False
        if self.explicit and control_id not in (record.get("controls") or ()):
            return False
        return all(record.get(k) == v for k, v in self.filters.items())


def _rule_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all_of", "any_of"):
            if key in value:
                return key
        return "leaf"
    if isinstance(value, BaseModel):
        return {AllOf: "all_of", AnyOf: "any_of"}.get(type(value), "leaf")
    return None


EvidenceRule = Annotated[
    Annotated[EvidenceRequirement, Tag("leaf")]
    | Annotated["AllOf", Tag("all_of")]
    | Annotated["AnyOf", Tag("any_of")],
    Discriminator(
        _rule_tag,
        custom_error_type="invalid_rule",
        custom_error_message="an evidence rule is a mapping: {kind: ...}, {all_of: [...]} "
        "or {any_of: [...]}",
    ),
]


def _non_empty(rules: list[Any], name: str) -> list[Any]:
    if not rules:
        raise ValueError(
            f"empty {name}: a combinator needs at least one rule "
            "(an empty list would be vacuously satisfied)"
        )
    return rules


class AllOf(_Model):
    """Every child rule must be met."""

    all_of: list[EvidenceRule]

    _non_empty = field_validator("all_of")(lambda cls, v: _non_empty(v, "all_of"))

    def leaves(self) -> list[EvidenceRequirement]:
        """The leaf requirements below this rule, depth first."""
        return [leaf for rule in self.all_of for leaf in rule_leaves(rule)]


class AnyOf(_Model):
    """At least one child rule must be met."""

    any_of: list[EvidenceRule]

    _non_empty = field_validator("any_of")(lambda cls, v: _non_empty(v, "any_of"))

    def leaves(self) -> list[EvidenceRequirement]:
        """The leaf requirements below this rule, depth first."""
        return [leaf for rule in self.any_of for leaf in rule_leaves(rule)]


def rule_leaves(rule: EvidenceRequirement | AllOf | AnyOf) -> list[EvidenceRequirement]:
    """All leaf requirements of an evidence rule, depth first."""
    return [rule] if isinstance(rule, EvidenceRequirement) else rule.leaves()


def evaluate_rule(
    rule: EvidenceRequirement | AllOf | AnyOf,
    is_met: Any,
) -> bool:
    """Decide a rule given a predicate on leaves.

    Args:
        rule: the rule to evaluate.
        is_met: ``callable(EvidenceRequirement) -> bool``, true when acceptable
            evidence exists for that leaf.

    Returns:
        True when the combinators over the leaves are satisfied.
    """
    if isinstance(rule, AllOf):
        return all(evaluate_rule(r, is_met) for r in rule.all_of)
    if isinstance(rule, AnyOf):
        return any(evaluate_rule(r, is_met) for r in rule.any_of)
    return bool(is_met(rule))


FactCondition = StrictBool | list[Text]
"""What a control asks of one system fact: true or false for a yes/no fact, a list of
Annex III points (a bare number stands for all its letters) for ``annex_iii_area``."""


class AppliesTo(_Model):
    """Which systems a control applies to; an empty list (or mapping) means every value.

    ``facts`` names system facts (:data:`frameworks.vocab.FACTS`) the system must
    have, e.g. ``{remote_biometric_identification: true}``. A fact the system record
    does not state matches: a control whose scope cannot be ruled out applies.
    """

    risk_tiers: list[RiskTier] = []
    eu_roles: list[EuRole] = []
    eu_classes: list[EuClass] = []
    facts: dict[str, FactCondition] = {}

    @field_validator("facts", mode="before")
    @classmethod
    def _known_facts(cls, value: Any) -> Any:
        for name, wanted in (value.items() if isinstance(value, dict) else ()):
            fact = vocab.FACTS.get(name)
            if fact is None:
                raise ValueError(f"unknown fact {name!r} (one of: {', '.join(vocab.FACTS)})")
            if fact.kind == "bool" and not isinstance(wanted, bool):
                raise ValueError(f"{name} is true or false, not {wanted!r}")
            if fact.kind == "annex_iii_point" and not (
                isinstance(wanted, list) and wanted and all(isinstance(p, str) and p in _POINT_VALUES for p in wanted)
            ):
                raise ValueError(f"{name} takes a non-empty list of quoted Annex III points (e.g. ['5', '5b']), "
                                 f"not {wanted!r}")
        return value

    def matches(
        self,
        *,
        risk_tier: str | None = None,
        eu_role: str | Collection[str] | None = None,
        eu_class: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether a system with these attributes is in scope (None = unknown, matches).

        ``eu_role`` may be one role or the system's several roles; a control
        scoped to some roles matches when the system holds any of them, counting
        a product manufacturer of an Annex I system as its provider (Art 25(3)).
        ``facts`` are the facts the system record states; one it leaves out (or
        None for all) matches, and an Annex III point implies the facts of
        :data:`frameworks.vocab.ANNEX_III_IMPLIES`.
        """
        if self.eu_roles and eu_role is not None:
            held = vocab.effective_roles(eu_role, eu_class)
            if held and not held & set(self.eu_roles):
                return False
        checks = ((self.risk_tiers, risk_tier), (self.eu_classes, eu_class))
        if not all(not allowed or value is None or value in allowed for allowed, value in checks):
            return False
        return all(self._fact_matches(name, wanted, facts or {}) for name, wanted in self.facts.items())

    @staticmethod
    def _fact_matches(name: str, wanted: FactCondition, facts: Mapping[str, Any]) -> bool:
        value = facts.get(name)
        if value is None and vocab.ANNEX_III_IMPLIES.get(str(facts.get("annex_iii_area"))) == name:
            value = True
        if value is None:
            return True  # unknown: the control applies until the record rules it out
        if isinstance(wanted, bool):
            return bool(value) is wanted
        point = str(value)
        return any(point == w or (w.isdigit() and point.rstrip("abcdefgh") == w) for w in wanted)


class Control(_Model):
    """An internal control: what it is, who owns it, what it satisfies, what proves it."""

    id: ControlId
    title: Text
    description: Text
    owner: Text
    type: Literal["process", "technical"] = "process"
    function: Literal["preventive", "detective", "corrective"] | None = None
    satisfies: Annotated[list[NodeId], Field(min_length=1)]
    evidence: EvidenceRule
    applies_to: AppliesTo = AppliesTo()
    organisation_level: bool = False
    """Organisation-wide records (``system: "*"``: policies, procedures, training)
    count as its evidence; for any other control only the system's own records do."""
    open_incidents_fail: list[Literal["low", "medium", "high", "critical"]] = []
    """Open incidents of these severities make it *failing* (incident management)."""
    reporting_deadlines: Literal["eu-ai-act-art-73"] | None = None
    """The incidents its evidence rule selects must be reported to the authority within
    these deadlines (``controls.incidents``): one unreported past its deadline makes it
    *failing*; with none overdue it is *covered*, none recorded included."""

    @model_validator(mode="after")
    def _deadlines_judge_incidents(self) -> Control:
        if not self.reporting_deadlines:
            return self
        leaf = self.evidence
        if not (isinstance(leaf, EvidenceRequirement) and leaf.kind == "incident"):
            raise ValueError("reporting_deadlines needs an evidence rule of one incident leaf "
                             "(it selects the incidents the deadlines apply to)")
        if leaf.max_age_days is not None or leaf.bound_to_model_version:
            raise ValueError("a reporting deadline runs from each incident's own dates: "
                             "drop max_age_days and bound_to_model_version")
        return self

    @field_validator("satisfies")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for item in value:
            if item in seen:
                raise ValueError(f"{item} is listed twice")
            seen.add(item)
        return value

    def evidence_leaves(self) -> list[EvidenceRequirement]:
        """The leaf evidence requirements of this control's rule."""
        return rule_leaves(self.evidence)


class CatalogInfo(_Model):
    """Identity of a control catalog: the ``catalog`` block of a controls file."""

    id: FrameworkId
    name: Text
    version: Text
    description: Text | None = None


class ControlsFile(_Model):
    """A control catalog file (``format: assure-controls/1``)."""

    format: Literal["assure-controls/1"]
    catalog: CatalogInfo
    controls: Annotated[list[Control], Field(min_length=1)]


LibraryFile = Annotated[
    FrameworkFile | CrosswalkFile | ControlsFile, Field(discriminator="format")
]
"""Any file of the library, chosen by its ``format`` key."""


@functools.cache
def library_file() -> TypeAdapter[Any]:
    """The validator of :data:`LibraryFile`, built on first use: a query that reads the
    library from its cache never pays for it (the models are ``defer_build`` too)."""
    return TypeAdapter(LibraryFile)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of all three file formats (what ``schema.json`` ships)."""
    schema = library_file().json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Assure framework library file"
    return schema
