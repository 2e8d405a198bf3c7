"""Approval policy: how many distinct approvers of which role each decision needs.

The policy is YAML (``controls/approval-policy.yaml`` is the default). A target
(model version, exception, risk assessment, …) is *approved* once enough distinct
eligible approvers have approved it, *rejected* while an eligible approver's
latest decision on it is a rejection, and *pending* otherwise. Eligible means:
the approval's key has an allowed role and is not a key that signed the target
(separation of duties); distinct means distinct key owners.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controls.state import Evidence
from ledger.errors import InputError
from ledger.timeutil import format_timestamp

DEFAULT_POLICY = Path(__file__).with_name("approval-policy.yaml")
DECISION_TYPES = ("release", "exception", "risk_assessment", "other")
TARGET_DECISION = {"model_version": "release", "exception": "exception", "risk_assessment": "risk_assessment"}


class Rule(BaseModel):
    """Approvers needed for one decision type and tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    approvers: Annotated[int, Field(ge=1, le=20)]
    roles: Annotated[list[Literal["admin", "pipeline", "approver", "auditor"]], Field(min_length=1)] = ["approver"]


class TierRules(BaseModel):
    """One rule per internal risk tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    low: Rule
    medium: Rule
    high: Rule


class ApprovalPolicy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["assure-approval-policy/1"]
    decisions: dict[Literal["release", "exception", "risk_assessment", "other"], TierRules]

    def rule(self, decision: str, tier: str) -> Rule:
        """The rule for a decision type and tier (``other`` when the type is not listed)."""
        rules = self.decisions.get(decision) or self.decisions.get("other")  # type: ignore[call-overload]
        if rules is None:
            return Rule(approvers=1)
        return getattr(rules, tier)  # type: ignore[no-any-return]


def load_policy(path: Path | None = None) -> ApprovalPolicy:
    """Read and validate an approval policy file (default: the built-in one).

    Raises:
        InputError: naming the file and the field.
    """
    path = path or DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(e.strerror or "cannot read", source=str(path)) from e
    except yaml.YAMLError as e:
        raise InputError(f"invalid YAML: {e}", source=str(path)) from e
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


def signer_keys(e: Evidence) -> set[str]:
    """Key ids that signed a record (from its leaf signatures, via the projection's first signer)."""
    return {e.signer_key_id}


def decide(target: Evidence, approvals: list[Evidence], *, tier: str, policy: ApprovalPolicy) -> Decision:
    """Apply the policy to the approvals of ``target`` (all already live and in ledger order)."""
    decision_type = TARGET_DECISION.get(target.kind, "other")
    rule = policy.rule(decision_type, tier)
    d = Decision(target, decision_type, rule.approvers, list(rule.roles), "pending")
    latest: dict[str, Evidence] = {}
    for a in approvals:
        if a.target != target.entry_hash:
            continue
        if a.signer_key_id in signer_keys(target):
            d.ignored.append((a, "signed by the key that submitted the target (separation of duties)"))
        elif a.signer_role not in rule.roles:
            d.ignored.append((a, f"role {a.signer_role!r} cannot approve a {decision_type}"))
        else:
            latest[a.signer_owner] = a  # one voice per approver: their latest decision
    votes = sorted(latest.values(), key=lambda a: a.seq)
    d.rejections = [a for a in votes if a.fields.get("decision") == "reject"]
    d.approvers = [a for a in votes if a.fields.get("decision") == "approve"]
    if d.rejections:
        d.status, d.decided_at = "rejected", d.rejections[-1].received_at
    elif len(d.approvers) >= rule.approvers:
        d.status = "approved"
        d.decided_at = d.approvers[rule.approvers - 1].received_at
    return d


def decisions(view: Any, *, policy: ApprovalPolicy) -> list[Decision]:
    """The decision on every entry the system's live approvals target, in ledger order."""
    approvals = view.of_kind("approval")
    targets = sorted({a.target for a in approvals if a.target}, key=lambda h: view.by_hash[h].seq if h in view.by_hash else 0)
    return [
        decide(view.by_hash[t], approvals, tier=view.risk_tier, policy=policy)
        for t in targets
        if t in view.by_hash
    ]


def approved_votes(view: Any, *, policy: ApprovalPolicy) -> list[Evidence]:
    """Approval records that count as evidence: votes on targets that are approved."""
    votes = [a for d in decisions(view, policy=policy) if d.status == "approved" for a in d.approvers]
    return sorted(votes, key=lambda a: a.seq)
