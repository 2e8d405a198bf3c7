"""Evidence record models: what a pipeline or a person submits to the ledger.

A record is a JSON/YAML mapping whose ``kind`` picks the model. Models are
frozen pydantic models in strict mode with unknown fields rejected, so a typo is
an error rather than a silently ignored field. :func:`parse_record` validates a
mapping; :func:`record_bytes` gives its canonical bytes (RFC 8785, after
normalising timestamps to UTC ``Z``), which are what gets signed and stored.

This module does no I/O and knows nothing about the database.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ledger.canonical import (
    MAX_SAFE_INT,
    CanonicalError,
    canonical_json,
    is_canonical_json_of,
    parse_json,
    unsafe_number_problem,
)
from ledger.errors import InputError
from ledger.record_rules import ORG_WIDE as ORG_WIDE  # noqa: PLC0414 (re-exported: callers import it from here)
from ledger.record_rules import (
    after_problem,
    evaluation_problem,
    incident_problem,
    org_wide_problem,
)
from ledger.text_rules import (
    MULTI_LINE_PATTERN,
    SINGLE_LINE_PATTERN,
    multi_line_problem,
    single_line_problem,
)
from ledger.timeutil import normalize_timestamp, parse_timestamp

PAYLOAD_TYPE = "application/vnd.assure.record+json"
MAX_RECORD_BYTES = 256 * 1024

KINDS = (
    "system",
    "model_version",
    "evaluation",
    "risk_assessment",
    "approval",
    "exception",
    "incident",
    "document",
    "retract",
    "key.trust",
    "key.revoke",
    "scope_index",
)
KEY_KINDS = frozenset({"key.trust", "key.revoke"})
LEDGER_KINDS = KEY_KINDS | {"scope_index"}
"""Kinds about the ledger itself rather than a system: they carry no ``system``."""


def _timestamp(value: Any) -> Any:
    try:
        return normalize_timestamp(value)
    except ValueError as e:
        raise ValueError(str(e)) from None


Timestamp = Annotated[str, BeforeValidator(_timestamp)]
Ident = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
]
SystemRef = Annotated[
    str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127})$")
]
"""A system id, or ``*`` for organisation-wide evidence (a policy that covers every system)."""
ControlId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
EntryHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


# Text fields refuse control characters, bidi overrides and isolates
# (ledger.text_rules); only multi-line prose keeps LF and TAB. The rule runs in
# pydantic-core as a pattern (a Python validator per field cost ~5% of an
# append); _message gives a mismatch the rule's own words.
_TEXT_RULES = {SINGLE_LINE_PATTERN: single_line_problem, MULTI_LINE_PATTERN: multi_line_problem}


def _single_line(min_length: int | None, max_length: int) -> Any:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=SINGLE_LINE_PATTERN)


def _multi_line(min_length: int | None, max_length: int) -> Any:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=MULTI_LINE_PATTERN)


Name = Annotated[str, _single_line(1, 200)]
Text = Annotated[str, _multi_line(None, 20_000)]
"""Multi-line prose: notes, descriptions, summaries."""
ShortText = Annotated[str, _single_line(1, 2_000)]
ShortProse = Annotated[str, _multi_line(1, 2_000)]
"""A required explanation that may run over several lines (an exception's rationale and remediation)."""
Commit = Annotated[str, _single_line(None, 128)]
Uri = Annotated[str, _single_line(1, 2048)]


def _safe_number(value: Any) -> Any:
    # Most numbers are floats or ints well within range: one comparison, no call.
    if (type(value) is float or type(value) is int) and -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    if (why := unsafe_number_problem(value)) is not None:
        raise ValueError(why)
    return value


# Before the type checks, whose finiteness test overflows on huge integers.
Number = Annotated[float | int, Field(allow_inf_nan=False), BeforeValidator(_safe_number)]
"""A finite number; an integral value must lie within ±(2**53-1), where every JSON reader holds it exactly."""
MetricName = Annotated[str, _single_line(1, 128)]


class _Model(BaseModel):
    # Validators are built on first use: a query that only replays key events never
    # builds the other kinds' (importing this module was ~40 ms otherwise).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class Artifact(_Model):
    """A file the record refers to, pinned by its SHA-256."""

    name: Name
    uri: Uri
    sha256: Sha256Hex


class _Record(_Model):
    observed_at: Timestamp
    valid_until: Timestamp | None = None
    controls: Annotated[list[ControlId], Field(max_length=200, default_factory=list)]
    artifacts: Annotated[list[Artifact], Field(max_length=200, default_factory=list)]
    supersedes: EntryHash | None = None
    notes: Text | None = None


class _Evidence(_Record):
    system: SystemRef

    @field_validator("system")
    @classmethod
    def _names_a_system_if_bound(cls, value: str) -> str:
        if value == ORG_WIDE and (why := org_wide_problem(get_args(cls.model_fields["kind"].annotation)[0], value)):
            raise ValueError(why)
        return value


EuRole = Literal["provider", "deployer", "importer", "distributor", "authorised_representative",
                 "product_manufacturer", "none"]
AnnexIIIPoint = Literal["1a", "1b", "1c", "2", "3a", "3b", "3c", "3d", "4a", "4b", "5a", "5b", "5c", "5d",
                        "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c", "7d", "8a", "8b"]


class SystemFacts(_Model):
    """What the system does, as EU AI Act conditions ask it (``frameworks/vocab.py`` FACTS says
    which provisions read each). A fact left out is unknown: provisions that depend on it need review."""

    interacts_with_persons: bool | None = None
    generates_synthetic_content: bool | None = None
    emotion_recognition: bool | None = None
    biometric_categorisation: bool | None = None
    deep_fake: bool | None = None
    published_ai_text: bool | None = None
    remote_biometric_identification: bool | None = None
    real_time_rbi_law_enforcement: bool | None = None
    post_remote_rbi_law_enforcement: bool | None = None
    law_enforcement_use: bool | None = None
    public_sector_deployer: bool | None = None
    provides_public_service: bool | None = None
    annex_iii_area: AnnexIIIPoint | None = None
    annex_iii_derogation: bool | None = None
    non_eu_provider: bool | None = None
    workplace_use: bool | None = None
    decides_about_persons: bool | None = None


class SystemRecord(_Evidence):
    """An AI system: its owner, purpose, internal risk tier and EU AI Act position."""

    kind: Literal["system"]
    system: Ident  # a real system id: '*' is only for organisation-wide evidence
    name: Name
    owner: Name
    purpose: ShortText
    risk_tier: Literal["low", "medium", "high"]
    eu_class: Literal[
        "prohibited",
        "high_risk_annex_i",
        "high_risk_annex_iii",
        "limited",
        "minimal",
        "gpai",
        "gpai_systemic",
    ]
    eu_role: EuRole | Annotated[list[EuRole], Field(min_length=1, max_length=7)]
    """The organisation's EU AI Act roles for the system: one, or a list (provider and deployer of its own
    system, say)."""
    facts: SystemFacts = Field(default_factory=lambda: SystemFacts())
    frameworks: Annotated[list[Ident], Field(max_length=20, default_factory=list)]
    intended_use: Text | None = None
    out_of_scope_use: Text | None = None

    @field_validator("eu_role")
    @classmethod
    def _roles_distinct(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("a role is listed twice")
        if isinstance(value, list) and "none" in value and len(value) > 1:
            raise ValueError("'none' cannot be combined with other roles")
        return value


#: The fields of a system record that decide which obligations and controls apply to
#: it: a later system record that changes any of them is a reclassification, which
#: takes effect only once approved (``controls.liveness``).
CLASSIFICATION_FIELDS = ("risk_tier", "eu_class", "eu_role", "facts")


def eu_roles(value: str | list[str] | None) -> tuple[str, ...]:
    """A system record's ``eu_role`` as a sorted tuple of roles (one role, or a list)."""
    if value is None:
        return ()
    return tuple(sorted([value] if isinstance(value, str) else value))


def classification(fields: dict[str, Any]) -> tuple[Any, ...]:
    """What a system record's classification is, comparable across spellings of the same one."""
    facts = {k: v for k, v in (fields.get("facts") or {}).items() if v is not None}
    return (fields.get("risk_tier"), fields.get("eu_class"), eu_roles(fields.get("eu_role")),
            tuple(sorted(facts.items())))


class ModelVersionRecord(_Evidence):
    """A model version of a system, pinned by its artifact digest."""

    kind: Literal["model_version"]
    version: Ident
    artifact_sha256: Sha256Hex
    parent: Ident | None = None
    datasets: Annotated[list[Ident], Field(max_length=100, default_factory=list)]
    commit: Commit | None = None


class Threshold(_Model):
    """Bounds a metric must meet: ``min`` and/or ``max``."""

    min: Number | None = None
    max: Number | None = None


class EvaluationRecord(_Evidence):
    """One evaluation run of a model version: metrics, thresholds, verdict."""

    kind: Literal["evaluation"]
    model_version: Ident
    suite: Ident
    metrics: Annotated[dict[MetricName, Number], Field(max_length=500)]
    thresholds: Annotated[dict[MetricName, Threshold], Field(max_length=500, default_factory=dict)]
    passed: bool
    datasets: Annotated[list[Ident], Field(max_length=100, default_factory=list)]

    @field_validator("passed")
    @classmethod
    def _passed_agrees_with_thresholds(cls, value: bool, info: ValidationInfo) -> bool:
        metrics, thresholds = info.data.get("metrics"), info.data.get("thresholds")
        if value and metrics is not None and thresholds is not None:  # a failed run contradicts nothing
            bounds = {k: t.__dict__ for k, t in thresholds.items()}  # {min, max}: a dump per record cost ~3%
            if why := evaluation_problem(metrics, bounds, value):
                raise ValueError(why)
        return value

    @model_validator(mode="after")
    def _thresholds_name_metrics(self) -> EvaluationRecord:
        if not self.thresholds.keys() <= self.metrics.keys():
            missing = sorted(self.thresholds.keys() - self.metrics.keys())
            raise ValueError(f"thresholds name metrics that were not reported: {missing}")
        return self


class Risk(_Model):
    """One identified risk with its rating and mitigation."""

    id: Ident
    description: ShortText
    severity: Literal["low", "medium", "high", "critical"]
    likelihood: Literal["rare", "unlikely", "possible", "likely", "almost_certain"]
    mitigation: Text | None = None
    owner: Name | None = None


class RiskAssessmentRecord(_Evidence):
    """A risk / impact assessment: risks, mitigations and the residual risk."""

    kind: Literal["risk_assessment"]
    risk_tier: Literal["low", "medium", "high"]
    residual_risk: Literal["low", "medium", "high"]
    risks: Annotated[list[Risk], Field(max_length=500, default_factory=list)]
    model_version: Ident | None = None
    summary: Text | None = None


class ApprovalRecord(_Evidence):
    """A decision on an earlier entry (a release, an exception, an assessment)."""

    kind: Literal["approval"]
    target: EntryHash
    decision: Literal["approve", "reject"]
    conditions: Annotated[list[ShortText], Field(max_length=100, default_factory=list)]


class ExceptionRecord(_Evidence):
    """A risk acceptance: controls waived until ``expires_at`` with compensating controls."""

    kind: Literal["exception"]
    controls: Annotated[list[ControlId], Field(min_length=1, max_length=200)]
    rationale: ShortProse
    compensating_controls: Annotated[list[ControlId], Field(max_length=200, default_factory=list)]
    owner: Name
    expires_at: Timestamp
    remediation: ShortProse

    @field_validator("expires_at")
    @classmethod
    def _expires_after_observed(cls, value: str, info: ValidationInfo) -> str:
        return _after(value, info.data.get("observed_at"), "expires_at", "observed_at")


IncidentImpact = Literal["death", "critical_infrastructure", "widespread", "other"]


class IncidentRecord(_Evidence):
    """A serious incident, malfunction or harm report.

    ``serious`` marks a serious incident (EU AI Act Art 3(49)): it must be reported
    to the market surveillance authority within the Art 73 deadline its ``impact``
    sets, counted from ``aware_at`` (``controls.incidents``). ``reported_at`` is when
    it was reported (with ``reported_to_authority: true``).
    """

    kind: Literal["incident"]
    title: Name
    severity: Literal["low", "medium", "high", "critical"]
    status: Literal["open", "mitigated", "closed"]
    model_version: Ident | None = None
    description: Text | None = None
    reported_to_authority: bool = False
    serious: bool = False
    impact: IncidentImpact | None = None
    """death (Art 73(4)), critical_infrastructure (a serious and irreversible disruption of critical
    infrastructure, Art 3(49)(b)), widespread (a widespread infringement, Art 73(3)) or other."""
    aware_at: Timestamp | None = None
    """When the provider (or deployer) became aware of it; the reporting period runs from here."""
    reported_at: Timestamp | None = None
    """When it was reported to the market surveillance authority."""

    @model_validator(mode="after")
    def _reporting_consistent(self) -> IncidentRecord:
        def ts(value: str | None) -> dt.datetime | None:
            return None if value is None else parse_timestamp(value)

        problem = incident_problem(
            observed_at=parse_timestamp(self.observed_at), aware_at=ts(self.aware_at),
            reported_at=ts(self.reported_at), reported_to_authority=self.reported_to_authority,
            serious=self.serious, impact=self.impact,
        )
        if problem:
            raise ValueError(problem[1])  # each reason names its field
        return self


DocType = Literal[
    "model_card",
    "data_sheet",
    "dpia",
    "monitoring_plan",
    "release_checklist",
    "policy",
    "other",
    # EU AI Act documents (provider and deployer duties)
    "art6_3_assessment",  # Art 6(3)-(4): why an Annex III system is not high-risk
    "technical_documentation",  # Art 11, Annex IV
    "instructions_for_use",  # Art 13
    "human_oversight_design",  # Art 14
    "qms_procedure",  # Art 17
    "conformity_assessment",  # Art 43, Annexes VI-VII
    "eu_declaration",  # Art 47, Annex V
    "eu_registration",  # Art 49: confirmation of the EU database entry
    "post_market_monitoring_plan",  # Art 72
    "fria",  # Art 27: fundamental rights impact assessment
    "rbi_authorisation",  # Art 5(3), 26(10): authorisation of a use of remote biometric identification
    "authorised_representative_mandate",  # Arts 22, 54
    # Management-system records (ISO/IEC 42001, NIST AI RMF)
    "obligations_register",
    "requirements_spec",
    "design_record",
    "evaluation_plan",
    "training_record",
    "management_review",
    "audit_report",
    "supplier_assessment",
    "user_notice",
]
"""What a document is. Values are only ever added: records signed with any earlier value must
still parse."""


class DocumentRecord(_Evidence):
    """A governance document: model card, data sheet, DPIA, monitoring plan, …"""

    kind: Literal["document"]
    doc_type: DocType
    title: Name
    model_version: Ident | None = None


class RetractRecord(_Evidence):
    """Withdraws an earlier entry: it stays in the ledger but no longer counts."""

    kind: Literal["retract"]
    target: EntryHash
    reason: ShortText


class KeyTrustRecord(_Record):
    """Trusts a public key for a role. Signed by an admin key."""

    kind: Literal["key.trust"]
    public_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]
    role: Literal["admin", "pipeline", "approver", "auditor"]
    owner: Name
    valid_from: Timestamp | None = None
    systems: Annotated[list[SystemRef], Field(min_length=1, max_length=1000)] | None = None
    """When set, the key may sign only records of these systems (``*``: organisation-wide ones)."""

    @field_validator("valid_from")
    @classmethod
    def _window_not_empty(cls, value: str | None, info: ValidationInfo) -> str | None:
        _after(info.data.get("valid_until"), value, "valid_until", "valid_from")
        return value


class KeyRevokeRecord(_Record):
    """Revokes a key from this entry on. Signed by an admin key."""

    kind: Literal["key.revoke"]
    key_id: Sha256Hex
    reason: ShortText


class ScopeIndexRecord(_Record):
    """Commits, inside the log, how many entries each scope had before entry ``size``.

    ``root`` is the RFC 9162 Merkle root over the scope leaves in scope order
    (:mod:`ledger.scope_index`). Signed by an admin key; the entry carrying it
    is entry ``size`` itself, so it commits to every entry before it.
    """

    kind: Literal["scope_index"]
    size: Annotated[int, Field(ge=0)]
    root: Sha256Hex
    scopes: Annotated[int, Field(ge=0)]


def _after(later: str | None, earlier: str | None, later_name: str, earlier_name: str) -> str | None:
    """``later`` unchanged, if it is after ``earlier`` (either missing: nothing to check)."""
    if later and earlier:
        why = after_problem(parse_timestamp(later), parse_timestamp(earlier),
                            later_name=later_name, earlier_name=earlier_name)
        if why:
            raise ValueError(why)
    return later


AnyRecord = Annotated[
    SystemRecord
    | ModelVersionRecord
    | EvaluationRecord
    | RiskAssessmentRecord
    | ApprovalRecord
    | ExceptionRecord
    | IncidentRecord
    | DocumentRecord
    | RetractRecord
    | KeyTrustRecord
    | KeyRevokeRecord
    | ScopeIndexRecord,
    Field(discriminator="kind"),
]
_BY_KIND: dict[str, type[_Record]] = {
    cls.model_fields["kind"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in get_args(get_args(AnyRecord)[0])
}


@functools.cache
def _any_record() -> TypeAdapter[AnyRecord]:
    return TypeAdapter(AnyRecord)


_UNION_TAGS = frozenset({"float", "int", "str", "bool"})


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in _UNION_TAGS or re.fullmatch(r"function-\w+\[.*\]", str(p)):
            continue  # pydantic's union tag and validator frames: not user fields
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(record)"


def parse_record(data: Any, *, source: str = "record") -> AnyRecord:
    """Validate a mapping as an evidence record.

    Raises:
        InputError: naming ``source``, the first bad field and why.
    """
    if not isinstance(data, dict):
        raise InputError(f"a record must be a mapping, got {type(data).__name__}", source=source)
    kind = data.get("kind")
    if kind is None:
        raise InputError("missing (one of: " + ", ".join(KINDS) + ")", source=source, field="kind")
    if kind not in KINDS:
        raise InputError(
            f"unknown kind {kind!r} (one of: {', '.join(KINDS)})", source=source, field="kind"
        )
    try:
        return _BY_KIND[kind].model_validate(data)  # type: ignore[return-value]
    except ValidationError as e:
        problems = [(_loc(err["loc"]), _message(err, kind)) for err in e.errors()]
        (field, first), rest = problems[0], problems[1:]
        more = "".join(f"; field '{f}': {m}" for f, m in rest)  # every problem, so one fix round is enough
        raise InputError(first + more, source=source, field=field) from e


def _message(err: Any, kind: str) -> str:
    if err["type"] == "extra_forbidden":
        return f"unknown field for kind {kind!r}"
    if err["type"] == "string_pattern_mismatch" and (rule := _TEXT_RULES.get(err["ctx"]["pattern"])):
        return str(rule(err["input"]))
    return str(err["msg"]).removeprefix("Value error, ")


def parse_record_bytes(data: bytes, *, source: str = "record") -> AnyRecord:
    """Validate signed payload bytes as a record, parsing the JSON in pydantic-core.

    This is the fast path for envelopes: callers then require
    ``record_bytes(record) == data``, which also rules out duplicate keys and any
    non-canonical spelling. Invalid input is re-parsed by the strict reader so the
    error message names the problem as precisely as :func:`parse_record` does.

    Raises:
        InputError: naming ``source``, the field and why.
    """
    try:
        return _any_record().validate_json(data, strict=True)
    except ValidationError:
        pass
    try:
        parsed = parse_json(data)
    except CanonicalError as e:
        raise InputError(str(e), source=source) from e
    return parse_record(parsed, source=source)


def require_canonical_payload(payload: bytes, *, source: str, record: AnyRecord | None = None) -> AnyRecord:
    """The record a signed payload holds, which must be exactly its canonical form.

    Args:
        payload: the signed bytes.
        source: names the input in errors.
        record: the payload already parsed, if it was.

    Raises:
        InputError: if the payload is not a valid record, or not in canonical form.
    """
    if record is None:
        record = parse_record_bytes(payload, source=f"{source} (payload)")
    if len(payload) > MAX_RECORD_BYTES or not is_canonical_json_of(record_to_json(record), payload):
        record_bytes(record, source=source)  # its errors (too large, not representable) come first
        raise InputError(
            "payload is not the canonical form of its record "
            "(sign records with 'assure sign', which canonicalises them)",
            source=source,
            field="payload",
        )
    return record


def record_to_json(record: AnyRecord) -> dict[str, Any]:
    """The record as a plain JSON mapping, defaults omitted (one text form per record)."""
    return record.model_dump(mode="json", exclude_defaults=True, exclude_none=True) | {
        "kind": record.kind
    }


def record_bytes(record: AnyRecord, *, source: str = "record") -> bytes:
    """Canonical bytes of a validated record: what is signed, hashed and stored.

    Raises:
        InputError: if the record cannot be canonicalised or is too large.
    """
    try:
        data = canonical_json(record_to_json(record))
    except CanonicalError as e:
        raise InputError(str(e), source=source) from e
    if len(data) > MAX_RECORD_BYTES:
        raise InputError(
            f"record is {len(data)} bytes; the limit is {MAX_RECORD_BYTES}", source=source
        )
    return data
