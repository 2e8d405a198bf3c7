"""Which records of a system count: corrections, retractions and reclassifications.

The ledger never forgets; this module decides, from a system's records in
ledger order, what is in force:

* **Corrections.** A ``retract`` record withdraws its ``target``; any record
  with ``supersedes`` replaces the entry it names. Either takes effect only if
  it follows the reference rules (:func:`ledger.references.reference_problem`:
  same system, same kind for a correction, by the target's submitter or an
  admin; append refuses anything else, this re-checks). Withdrawing something
  that holds a release back, an approval or rejection, an exception, an
  incident or a failing evaluation, needs approval under the policy's
  ``retraction`` rule, like an exception; until then the target stays in force
  and the correction is *pending*. Corrections are resolved from the newest
  back, so a retraction that is itself retracted withdraws nothing (while a
  correction that is itself corrected still replaced what it named).
* **Reclassification.** The first ``system`` record registers the system. A
  later one that changes a classification field (:data:`CLASSIFICATION_FIELDS`)
  takes effect only once approved under the ``reclassification`` rule, by at
  least two approvers when the system is or would be high-risk (the internal
  tier, or an EU high-risk class); approvers never include its submitter
  (separation of duties, by key and by owner). Until then the previous
  classification stands. Other changes (name, owner, purpose) apply at once.

Every correction and reclassification, whatever its state, is kept so the
trace, coverage reasons and the audit package can show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controls.approvals import ApprovalPolicy, Decision, decide
from controls.evidence import Evidence
from ledger.append_policy import TIER_ORDER, strictest_tier
from ledger.errors import NotFoundError
from ledger.records import CLASSIFICATION_FIELDS, classification
from ledger.references import EntryFacts, reference_problem
from ledger.wording import a


@dataclass
class Correction:
    """A retraction or a superseding record, and whether it is in force."""

    record: Evidence
    target: Evidence
    action: str  # retract | supersede
    state: str  # effective | pending | rejected | invalid
    reason: str
    decision: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "action": self.action,
            "state": self.state,
            "reason": self.reason,
            "by": self.record.ref(),
            "target": self.target.ref(),
            "why": self.record.fields.get("reason") or self.record.fields.get("notes"),
            "approval": self.decision.to_json() if self.decision else None,
        }


@dataclass
class Reclassification:
    """A later system record that changes the system's classification."""

    record: Evidence
    previous: Evidence
    changes: dict[str, tuple[Any, Any]]
    state: str  # effective | pending | rejected
    decision: Decision

    @property
    def downgrade(self) -> bool:
        """Whether it lowers the internal tier or leaves an EU high-risk class."""
        old, new = self.previous.fields, self.record.fields
        return TIER_ORDER.get(new.get("risk_tier"), 0) < TIER_ORDER.get(old.get("risk_tier"), 0) or (
            _high_risk_class(old) and not _high_risk_class(new)
        )

    def describe(self) -> str:
        """One line: what changes, and where approval stands."""
        what = ", ".join(f"{f} {a} → {b}" for f, (a, b) in self.changes.items())
        d = self.decision
        return (f"reclassification in entry {self.record.seq} ({what}) is {self.state}: "
                f"{len(d.approver_owners)}/{d.required} approver(s)")

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "entry": self.record.ref(),
            "state": self.state,
            "downgrade": self.downgrade,
            "changes": {f: {"from": a, "to": b} for f, (a, b) in self.changes.items()},
            "approval": self.decision.to_json(),
        }


@dataclass
class Resolution:
    """What is in force for a system, and every change that was asked for."""

    registration: Evidence
    live: list[Evidence]
    retracted: dict[str, Evidence]
    superseded: dict[str, Evidence]
    corrections: list[Correction] = field(default_factory=list)
    reclassifications: list[Reclassification] = field(default_factory=list)
    terms: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """For targets that are corrections or system records: (decision type, tier, minimum approvers)."""


#: Kinds whose withdrawal needs approval (evaluations only when they failed).
PROTECTED_KINDS = frozenset({"approval", "exception", "incident"})


def protected(e: Evidence) -> bool:
    """Whether withdrawing ``e`` could let a release through or hide a problem."""
    return e.kind in PROTECTED_KINDS or (e.kind == "evaluation" and e.passed is False)


def resolve(system: str, rows: list[Evidence], *, policy: ApprovalPolicy) -> Resolution:
    """Decide what is in force among a system's records (and ``*`` ones), in ledger order.

    Raises:
        NotFoundError: if no system record registers ``system`` among them.
    """
    registrations = [e for e in rows if e.kind == "system" and e.system == system]
    if not registrations:
        raise NotFoundError(f"system {system!r} is not registered")
    by_hash = {e.entry_hash: e for e in rows}
    strict = strictest_tier([str(r.fields.get("risk_tier")) for r in registrations]) or "high"
    out = Resolution(registrations[0], [], {}, {})
    dead: dict[str, Correction] = {}
    for c in reversed(rows):  # newest first: a withdrawn correction withdraws nothing
        action, ref = ("retract", c.target) if c.kind == "retract" else ("supersede", c.supersedes)
        if ref is None or (c.entry_hash in dead and dead[c.entry_hash].action == "retract"):
            continue  # a retracted correction withdraws nothing (a superseded one still replaced its target)
        correction = _correction(c, action, by_hash.get(ref), rows, dead, strict=strict, policy=policy)
        if correction is None:
            continue
        out.terms[c.entry_hash] = ("retraction", strict, 1)
        out.corrections.append(correction)
        if correction.state == "effective":
            dead[ref] = correction
    out.corrections.reverse()
    out.live = [e for e in rows if e.entry_hash not in dead and e.kind != "retract"]
    out.retracted = {h: c.record for h, c in dead.items() if c.action == "retract"}
    out.superseded = {h: c.record for h, c in dead.items() if c.action == "supersede"}
    _classify(out, registrations, policy=policy)
    return out


def _correction(
    c: Evidence, action: str, target: Evidence | None, rows: list[Evidence], dead: dict[str, Correction], *,
    strict: str, policy: ApprovalPolicy,
) -> Correction | None:
    if target is None:
        return None  # the target is outside this view (another system's entry): refused at append
    field_name = "target" if action == "retract" else "supersedes"
    facts = EntryFacts(target.seq, target.entry_hash, target.kind, target.system, tuple(target.signer_key_ids))
    why = reference_problem(kind=c.kind, system=c.system, field=field_name, ref=facts, signers=c.signers,
                            target_owners=target.signer_owners)
    if why:
        return Correction(c, target, action, "invalid", why)
    if not protected(target):
        return Correction(c, target, action, "effective", f"{action}s entry {target.seq}")
    approvals = [a for a in rows if a.kind == "approval" and a.entry_hash not in dead]
    d = decide(c, approvals, tier=strict, policy=policy, decision_type="retraction")
    state = "effective" if d.status == "approved" else d.status
    what = f"withdrawing entry {target.seq} ({_label(target)}) needs approval"
    return Correction(c, target, action, state, f"{what}: {len(d.approver_owners)}/{d.required} approver(s)", d)


def _classify(out: Resolution, registrations: list[Evidence], *, policy: ApprovalPolicy) -> None:
    approvals = [a for a in out.live if a.kind == "approval"]
    effective = registrations[0]
    for r in registrations[1:]:
        old, new = classification(effective.fields), classification(r.fields)
        changes = {f: (_shown(f, a), _shown(f, b)) for f, a, b in zip(CLASSIFICATION_FIELDS, old, new, strict=True)
                   if a != b}
        if not changes:
            effective = r  # a change of name, owner or purpose applies at once
            continue
        tier = strictest_tier([str(effective.fields.get("risk_tier")), str(r.fields.get("risk_tier"))]) or "high"
        minimum = 2 if _high_risk(effective.fields) or _high_risk(r.fields) else 1
        out.terms[r.entry_hash] = ("reclassification", tier, minimum)
        d = decide(r, approvals, tier=tier, policy=policy, decision_type="reclassification", min_approvers=minimum)
        state = "effective" if d.status == "approved" else d.status
        out.reclassifications.append(Reclassification(r, effective, changes, state, d))
        if state == "effective":
            effective = r
    out.registration = effective


def _shown(field: str, value: Any) -> Any:
    """A classification value as people read it (roles joined, facts as name=value)."""
    if field == "eu_role":
        return "+".join(value) or "none"
    if field == "facts":
        return ", ".join(f"{k}={v}" for k, v in value) or "none stated"
    return value


def _high_risk_class(fields: dict[str, Any]) -> bool:
    return str(fields.get("eu_class", "")).startswith("high_risk")


def _high_risk(fields: dict[str, Any]) -> bool:
    return fields.get("risk_tier") == "high" or _high_risk_class(fields)


def _label(e: Evidence) -> str:
    if e.kind == "evaluation":
        return f"failing {e.fields.get('suite')} evaluation"
    if e.kind == "approval":
        return "a rejection" if e.fields.get("decision") == "reject" else "an approval"
    return a(e.kind)
