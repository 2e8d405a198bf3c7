"""Approval policy: how many distinct approvers of which role each decision needs.

The policy is YAML (``controls/approval-policy.yaml`` is the default). A target
(model version, exception, risk assessment, a retraction, a reclassification, …)
is *approved* once enough distinct eligible approvers have approved it,
*rejected* while an eligible approver's latest decision on it is a rejection,
and *pending* otherwise.

Separation of duties compares every signer of the target with every signer of
the approval, by key and by owner: an approval co-signed by anyone who signed
the target never counts, and a rotated key of the same owner is still the same
person. Each eligible signer of an approval is one voice (distinct approvers are
distinct owners), and an owner's latest decision on a target is the one that
counts.

The policy also sets the limits append enforces on exceptions
(:func:`append_policy`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controls.evidence import Evidence
from ledger.append_policy import (
    DEFAULT_COMPENSATING_REQUIRED,
    DEFAULT_EXCEPTION_MAX_DAYS,
    AppendPolicy,
)
from ledger.errors import InputError
from ledger.timeutil import format_timestamp

DEFAULT_POLICY = Path(__file__).with_name("approval-policy.yaml")
DECISION_TYPES = ("release", "exception", "risk_assessment", "retraction", "reclassification", "other")
TARGET_DECISION = {"model_version": "release", "exception": "exception", "risk_assessment": "risk_assessment"}


class Rule(BaseModel):
    """Approvers needed for one decision type and tier."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    approvers: Annotated[int, Field(ge=1, le=20)]
    roles: Annotated[list[Literal["admin", "pipeline", "approver", "auditor"]], Field(min_length=1)] = ["approver"]


class TierRules(BaseModel):
    """One rule per internal risk tier."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    low: Rule
    medium: Rule
    high: Rule


class ExceptionLimits(BaseModel):
    """How long an exception may run, and when it needs compensating controls."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    max_days: dict[Literal["low", "medium", "high"], Annotated[int, Field(ge=1, le=3650)]] = dict(
        DEFAULT_EXCEPTION_MAX_DAYS
    )
    compensating_required: list[Literal["low", "medium", "high"]] = sorted(DEFAULT_COMPENSATING_REQUIRED)


class ApprovalPolicy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    format: Literal["assure-approval-policy/1"]
    decisions: dict[
        Literal["release", "exception", "risk_assessment", "retraction", "reclassification", "other"], TierRules
    ]
    exceptions: ExceptionLimits = Field(default_factory=ExceptionLimits)  # built when used, not at import

    def rule(self, decision: str, tier: str) -> Rule:
        """The rule for a decision type and tier (``other`` when the type is not listed)."""
        rules = self.decisions.get(decision) or self.decisions.get("other")  # type: ignore[call-overload]
        if rules is None:
            return Rule(approvers=1)
        return getattr(rules, tier)  # type: ignore[no-any-return]


def append_policy(policy: ApprovalPolicy, *, max_skew: dt.timedelta | None = None) -> AppendPolicy:
    """What append enforces under this policy (exception limits; clock skew)."""
    limits = policy.exceptions
    base = AppendPolicy()
    return AppendPolicy(
        max_skew=max_skew if max_skew is not None else base.max_skew,
        exception_max_days={**DEFAULT_EXCEPTION_MAX_DAYS, **limits.max_days},
        compensating_required=frozenset(limits.compensating_required),
    )


def exception_limit_problem(exception: Evidence, *, tier: str, policy: ApprovalPolicy) -> str | None:
    """Why an exception breaks the policy's limits for a system of ``tier`` (None: it does not)."""
    from ledger.append_policy import exception_problem

    assert exception.expires_at is not None
    problem = exception_problem(
        observed_at=exception.observed_at, expires_at=exception.expires_at,
        compensating=list(exception.fields.get("compensating_controls") or []), tier=tier,
        policy=append_policy(policy),
    )
    return problem[1] if problem else None


def load_policy(path: Path | None = None) -> ApprovalPolicy:
    """Read and validate an approval policy file (default: the built-in one).

    Raises:
        InputError: naming the file and the field.
    """
    from controls.policy_file import read_document

    path = path or DEFAULT_POLICY
    data = read_document(path)
    try:
        return ApprovalPolicy.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(err["msg"], source=str(path), field=loc or None) from e


@dataclass
class Decision:
    """Where approval of one target stands."""

    target: Evidence
    decision_type: str
    required: int
    roles: list[str]
    status: str  # approved | rejected | pending
    approvers: list[Evidence] = field(default_factory=list)
    rejections: list[Evidence] = field(default_factory=list)
    ignored: list[tuple[Evidence, str]] = field(default_factory=list)
    decided_at: dt.datetime | None = None
    approver_owners: list[str] = field(default_factory=list)
    """The distinct owners whose latest decision is to approve, in ledger order."""

    def to_json(self) -> dict[str, Any]:
        """JSON form for reports and ``--json``."""
        return {
            "target": self.target.ref(),
            "decision_type": self.decision_type,
            "status": self.status,
            "required_approvers": self.required,
            "roles": self.roles,
            "approved_by": [a.ref() for a in self.approvers],
            "rejected_by": [a.ref() for a in self.rejections],
            "not_counted": [{**a.ref(), "reason": why} for a, why in self.ignored],
            "decided_at": _iso(self.decided_at),
        }


def _iso(t: dt.datetime | None) -> str | None:
    return format_timestamp(t) if t else None


def decide(
    target: Evidence, approvals: list[Evidence], *, tier: str, policy: ApprovalPolicy, decision_type: str | None = None,
    min_approvers: int = 1,
) -> Decision:
    """Apply the policy to the approvals of ``target`` (all already live and in ledger order).

    Args:
        target: what is being approved.
        approvals: live approvals (those naming other targets are skipped).
        tier: the system's internal risk tier.
        policy: the approval policy.
        decision_type: the policy entry to apply (default: by the target's kind).
        min_approvers: at least this many, whatever the policy says.
    """
    decision_type = decision_type or TARGET_DECISION.get(target.kind, "other")
    rule = policy.rule(decision_type, tier)
    required = max(rule.approvers, min_approvers)
    d = Decision(target, decision_type, required, list(rule.roles), "pending")
    latest: dict[str, Evidence] = {}
    for a in approvals:
        if a.target != target.entry_hash:
            continue
        if a.signer_key_ids & target.signer_key_ids or a.signer_owners & target.signer_owners:
            who = ", ".join(sorted(a.signer_owners & target.signer_owners)) or "the same key"
            d.ignored.append((a, f"signed by {who}, who also signed the target (separation of duties)"))
            continue
        voices = [s for s in a.signers if s.role in rule.roles]
        if not voices:
            d.ignored.append((a, f"role {a.signer_role!r} cannot approve {a(decision_type)}"))
        for s in voices:
            latest[s.owner] = a  # one voice per approver: their latest decision
    votes = sorted(latest.items(), key=lambda kv: kv[1].seq)
    d.rejections = _unique([a for _, a in votes if a.fields.get("decision") == "reject"])
    d.approvers = _unique([a for _, a in votes if a.fields.get("decision") == "approve"])
    approving = [owner for owner, a in votes if a.fields.get("decision") == "approve"]
    if d.rejections:
        d.status, d.decided_at = "rejected", d.rejections[-1].received_at
    elif len(approving) >= required:
        d.status = "approved"
        d.decided_at = latest[approving[required - 1]].received_at
    d.approver_owners = approving
    return d


def _unique(items: list[Evidence]) -> list[Evidence]:
    return list({e.seq: e for e in items}.values())


def decisions(view: Any, *, policy: ApprovalPolicy) -> list[Decision]:
    """The decision on every entry the system's live approvals target, in ledger order."""
    approvals = view.of_kind("approval")
    targets = sorted({a.target for a in approvals if a.target}, key=lambda h: view.by_hash[h].seq if h in view.by_hash else 0)
    return [view.decide(view.by_hash[t], policy=policy) for t in targets if t in view.by_hash]


def approved_votes(view: Any, *, policy: ApprovalPolicy) -> list[Evidence]:
    """Approval records that count as evidence: votes on targets that are approved."""
    votes = [a for d in decisions(view, policy=policy) if d.status == "approved" for a in d.approvers]
    return sorted(votes, key=lambda a: a.seq)
