"""Coverage: for a system and a framework, the status of every requirement and why.

Pipeline (all set operations over one system's live records, see
``controls.state``; no per-entry loop over the ledger):

1. Each applicable internal control is evaluated from its evidence rule. A leaf
   rule finds the records of its kind that pass its filters (``explicit`` rules
   also need the record to name the control). For rules bound to a model version
   only records for the system's current model version count; records for older
   versions make the control **stale**. The *latest* run decides: a later failing
   evaluation is never hidden by an earlier passing one (**failing**). Records
   past ``valid_until`` or the rule's ``max_age_days`` are **stale**. ``all_of``
   needs every child (some = **partial**), ``any_of`` takes the best child.
2. An active exception (approved per the approval policy, unexpired, not
   retracted) turns a control that is not covered into **excepted**.
3. A requirement is **covered** when every applicable control mapped to it is
   covered (or **excepted** when some of them are excepted), **partial** when some
   are, else the most telling of failing / stale / missing. Requirements that
   do not bind the system (EU AI Act class, role and date) are **not_applicable**.
4. Separately, crosswalks *infer* coverage: a requirement not directly covered
   is ``inferred: covered`` when a directly covered requirement of another
   framework is equivalent to or a superset of it, and ``inferred: partial``
   through intersect/related edges (needs review). Inferred coverage never
   changes the direct status or the percentage.

``as_of`` selects what the ledger had received; ``at`` (default ``as_of``) is the
moment freshness and expiry are judged, so ``at`` in the future forecasts what
will lapse with no new evidence.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from controls.approvals import ApprovalPolicy, approved_votes
from controls.evidence import Evidence
from controls.exceptions import (
    ExceptionStatus,
    active_exceptions_by_control,
    exception_statuses,
)
from controls.graph import ControlGraph
from controls.incidents import DEADLINES, reporting_status
from controls.state import SystemView
from frameworks.applicability import Verdict
from frameworks.library import Requirement
from frameworks.schema import REVIEW_FLAGS, AllOf, AnyOf, Control, EvidenceRequirement
from ledger.records import ORG_WIDE
from ledger.timeutil import format_timestamp

STATUSES = ("covered", "excepted", "partial", "failing", "stale", "missing", "needs_review", "upcoming",
            "not_applicable")
NOT_BINDING = frozenset({"not_applicable", "upcoming"})
"""Statuses of requirements that do not bind the system on the day (the rest count as applicable)."""
_BEST = {"covered": 5, "partial": 4, "stale": 3, "failing": 2, "missing": 1}
_TELLING = ("failing", "stale", "partial", "missing")
_FULL_RELATIONS = frozenset({"equivalent", "subset"})  # read from the requirement to the covered one


@dataclass
class ControlResult:
    """How one control stands for the system."""

    control: Control
    status: str
    reason: str
    evidence: list[Evidence] = field(default_factory=list)
    exception: ExceptionStatus | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "control": self.control.id,
            "title": self.control.title,
            "status": self.status,
            "reason": self.reason,
            "evidence": [e.ref() for e in self.evidence],
        }
        if self.exception is not None:
            out["exception"] = {
                "seq": self.exception.record.seq,
                "entry_hash": self.exception.record.entry_hash,
                "expires_at": format_timestamp(self.exception.expires_at),
                "compensating_controls": self.exception.compensating_controls,
            }
        return out


@dataclass
class RequirementResult:
    """How one framework requirement stands for the system."""

    node_id: str
    requirement_id: str
    title: str
    status: str
    controls: list[ControlResult] = field(default_factory=list)
    inferred: str | None = None
    inferred_via: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    """Why: for not_applicable, upcoming and needs_review the applicability verdict (condition,
    date, missing fact); otherwise the deciding rule and entry of each control that is not covered."""
    applies_from: dt.date | None = None
    missing_facts: tuple[str, ...] = ()

    @property
    def evidence(self) -> list[Evidence]:
        """Evidence entries that decide it (deduplicated, ledger order)."""
        seen: dict[int, Evidence] = {}
        for c in self.controls:
            for e in c.evidence:
                seen[e.seq] = e
        return [seen[k] for k in sorted(seen)]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "requirement": self.node_id,
            "id": self.requirement_id,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "applies_from": self.applies_from.isoformat() if self.applies_from else None,
            "missing_facts": list(self.missing_facts),
            "controls": [{"control": c.control.id, "status": c.status} for c in self.controls],
            "evidence": [{"seq": e.seq, "entry_hash": e.entry_hash} for e in self.evidence],
            "inferred": self.inferred,
            "inferred_via": self.inferred_via,
        }


@dataclass
class FrameworkCoverage:
    """Coverage of one framework."""

    framework_id: str
    name: str
    version: str
    requirements: list[RequirementResult]

    @property
    def counts(self) -> dict[str, int]:
        """Requirements per status (every status present, zeros included)."""
        c = Counter(r.status for r in self.requirements)
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def applicable(self) -> int:
        """Requirements that bind the system (needs_review ones included: they bind unless a fact rules them out)."""
        return sum(1 for r in self.requirements if r.status not in NOT_BINDING)

    @property
    def upcoming(self) -> list[RequirementResult]:
        """Requirements that start to bind the system within the horizon asked for, soonest first."""
        return sorted((r for r in self.requirements if r.status == "upcoming"),
                      key=lambda r: (r.applies_from or dt.date.max, r.node_id))

    @property
    def percent(self) -> float:
        """(covered + excepted) / applicable, in percent (100 when nothing applies)."""
        counts = self.counts
        if not self.applicable:
            return 100.0
        return round(100.0 * (counts["covered"] + counts["excepted"]) / self.applicable, 1)

    @property
    def inferred_counts(self) -> dict[str, int]:
        """Not directly covered requirements that a crosswalk infers as covered / partial."""
        c = Counter(r.inferred for r in self.requirements if r.inferred)
        return {"covered": c.get("covered", 0), "partial": c.get("partial", 0)}

    def to_json(self, *, details: bool = True) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "framework": self.framework_id,
            "name": self.name,
            "version": self.version,
            "percent_covered": self.percent,
            "applicable": self.applicable,
            "counts": self.counts,
            "inferred": self.inferred_counts,
        }
        if details:
            out["requirements"] = [r.to_json() for r in self.requirements]
        return out


@dataclass
class CoverageReport:
    """Coverage of a system across frameworks at one moment."""

    system: str
    as_of: dt.datetime
    at: dt.datetime
    model_version: str | None
    view: SystemView
    frameworks: list[FrameworkCoverage]
    controls: dict[str, ControlResult]
    exceptions: list[ExceptionStatus]
    requirements: dict[str, RequirementResult] = field(default_factory=dict, repr=False)
    """Every assessable requirement of every loaded framework, by node id (the gate reads them)."""

    def framework(self, framework_id: str) -> FrameworkCoverage:
        """One framework's coverage."""
        return next(f for f in self.frameworks if f.framework_id == framework_id)

    def to_json(self, *, details: bool = True) -> dict[str, Any]:
        """JSON form (the shape ``assure coverage --json`` prints)."""
        v = self.view
        return {
            "system": self.system,
            "name": v.name,
            "risk_tier": v.risk_tier,
            "eu_class": v.eu_class,
            "eu_role": v.eu_role,
            "as_of": format_timestamp(self.as_of),
            "evaluated_at": format_timestamp(self.at),
            "model_version": self.model_version,
            "frameworks": [f.to_json(details=details) for f in self.frameworks],
            "controls": [c.to_json() for c in self.controls.values()] if details else None,
            "pending_reclassifications": [r.to_json() for r in v.pending_reclassifications],
            "pending_withdrawals": [c.to_json() for c in v.pending_corrections],
        }


_LOOSE: dict[int, tuple[EvidenceRequirement, EvidenceRequirement]] = {}


def _without_passed(leaf: EvidenceRequirement) -> EvidenceRequirement:
    """The leaf without its ``passed`` filter: failed runs must be found to report them."""
    hit = _LOOSE.get(id(leaf))
    if hit is None or hit[0] is not leaf:
        hit = (leaf, leaf.model_copy(update={"filters": {k: v for k, v in leaf.filters.items() if k != "passed"}}))
        _LOOSE[id(leaf)] = hit
    return hit[1]


@dataclass(frozen=True)
class Scope:
    """What evidence rules are judged against.

    Attributes:
        view: the system's live records.
        at: when freshness is judged.
        model_version: the version bound evidence must be for (None: any).
        approvals: the approvals that count as evidence: cast by an eligible
            approver on a target the policy deems approved (self-approvals and
            wrong roles never count).
    """

    view: SystemView
    at: dt.datetime
    model_version: str | None
    approvals: list[Evidence]

    def pool(self, kind: str, *, organisation_level: bool = False) -> list[Evidence]:
        """Candidate records of one kind: the system's own, and organisation-wide ones
        (``system: "*"``) only for an organisation-level control."""
        records = self.approvals if kind == "approval" else self.view.of_kind(kind)
        return records if organisation_level else [e for e in records if e.system != ORG_WIDE]


def _as_evidence(view: SystemView, approvals: list[Evidence]) -> list[Evidence]:
    """Approvals as rules read them: with the kind of entry each approves (``target_kind``) and,
    for a release approval, the model version it approves (so a rule can bind to it)."""
    out = []
    for a in approvals:
        target = view.by_hash.get(a.target or "")
        if target is None:
            out.append(a)
            continue
        version = target.model_version if target.kind == "model_version" else None
        out.append(replace(a, model_version=version, fields={**a.fields, "target_kind": target.kind}))
    return out


def evaluate_leaf(
    leaf: EvidenceRequirement, control_id: str, scope: Scope, *, organisation_level: bool = False
) -> tuple[str, str, list[Evidence]]:
    """Status, reason and deciding evidence for one leaf rule; the reason also names every
    retraction of, and pending withdrawal from, the records the rule reads."""
    status, reason, evidence = _evaluate_leaf(leaf, control_id, scope, organisation_level=organisation_level)
    notes = _withdrawals(leaf, control_id, scope)
    return status, "; ".join([reason, *notes]), evidence


def _withdrawals(leaf: EvidenceRequirement, control_id: str, scope: Scope) -> list[str]:
    loose = _without_passed(leaf)
    out = []
    for c in scope.view.corrections:
        target = c.target
        if c.state == "invalid" or (c.state == "effective" and c.action != "retract"):
            continue  # a record replaced by its correction is just the older one
        if target.kind != leaf.kind or not loose.matches(target.fields, control_id=control_id):
            continue
        if leaf.binds_model_version and scope.model_version not in (None, target.model_version):
            continue
        why = c.record.fields.get("reason")
        if c.state == "effective":
            out.append(f"entry {target.seq} was retracted by entry {c.record.seq}" + (f" ({why})" if why else ""))
        else:
            out.append(f"withdrawal of entry {target.seq} by entry {c.record.seq} is {c.state}: {c.reason}")
    return out


def _evaluate_leaf(
    leaf: EvidenceRequirement, control_id: str, scope: Scope, *, organisation_level: bool
) -> tuple[str, str, list[Evidence]]:
    at, model_version = scope.at, scope.model_version
    loose = _without_passed(leaf)
    pool = scope.pool(leaf.kind, organisation_level=organisation_level)
    candidates = [e for e in pool if loose.matches(e.fields, control_id=control_id)]
    what = _describe(leaf) + (f" naming {control_id}" if leaf.explicit else "")
    if not candidates:
        return "missing", f"no {what}", []
    if leaf.binds_model_version and model_version is not None:
        current = [e for e in candidates if e.model_version == model_version]
        if not current:
            old = candidates[-1]
            return "stale", f"{what} only for model version {old.model_version}, not {model_version}", [old]
        candidates = current
    latest = max(candidates, key=lambda e: (e.observed_at, e.seq))
    want_pass = leaf.filters.get("passed", True if leaf.kind == "evaluation" else None)
    if want_pass is not None and latest.passed is not None and latest.passed != want_pass:
        return "failing", f"latest {what} (entry {latest.seq}) failed", [latest]
    if latest.valid_until is not None and latest.valid_until < at:
        return "stale", f"{what} expired {latest.valid_until:%Y-%m-%d} (valid_until)", [latest]
    if leaf.max_age_days is not None and latest.observed_at < at - dt.timedelta(days=leaf.max_age_days):
        return "stale", f"{what} is older than {leaf.max_age_days} days", [latest]
    return "covered", f"{what}: entry {latest.seq}", [latest]


def _describe(leaf: EvidenceRequirement) -> str:
    bits = [leaf.kind] + [f"{k}={v}" for k, v in leaf.filters.items()]
    return " ".join(bits)


def evaluate_rule(
    rule: EvidenceRequirement | AllOf | AnyOf, control_id: str, scope: Scope, *, organisation_level: bool = False
) -> tuple[str, str, list[Evidence]]:
    """Status, reason and evidence for a (possibly combined) evidence rule."""
    if isinstance(rule, EvidenceRequirement):
        return evaluate_leaf(rule, control_id, scope, organisation_level=organisation_level)
    children = rule.all_of if isinstance(rule, AllOf) else rule.any_of
    results = [evaluate_rule(r, control_id, scope, organisation_level=organisation_level) for r in children]
    evidence = [e for _, _, ev in results for e in ev]
    if isinstance(rule, AnyOf):
        best = max(results, key=lambda r: _BEST[r[0]])
        return best[0], best[1], best[2]
    statuses = [s for s, _, _ in results]
    if all(s == "covered" for s in statuses):
        return "covered", "; ".join(r for _, r, _ in results), evidence
    unmet = "; ".join(r for s, r, _ in results if s != "covered")
    if any(s in ("covered", "partial") for s in statuses):
        return "partial", unmet, evidence
    worst = next(s for s in _TELLING if s in statuses)
    return worst, unmet, evidence


def evaluate_controls(
    graph: ControlGraph, scope: Scope, *, exceptions: list[ExceptionStatus]
) -> dict[str, ControlResult]:
    """Every control that applies to the system, evaluated."""
    view = scope.view
    waived = active_exceptions_by_control([_at(x, scope.at) for x in exceptions])
    out = {}
    system = {"risk_tier": view.risk_tier, "eu_role": view.eu_roles, "eu_class": view.eu_class, "facts": view.facts}
    for control in graph.controls():
        if not control.applies_to.matches(**system):
            continue
        if control.reporting_deadlines:
            status, reason, evidence = evaluate_reporting(control, scope)
        else:
            status, reason, evidence = evaluate_rule(control.evidence, control.id, scope,
                                                     organisation_level=control.organisation_level)
        incidents = open_incidents(view, control.open_incidents_fail)
        if incidents:
            status, evidence = "failing", incidents
            reason = "; ".join(f"open {i.fields.get('severity')} incident (entry {i.seq}: {i.fields.get('title')})"
                               for i in incidents)
        exc = waived.get(control.id)
        if status != "covered" and exc is not None:
            out[control.id] = ControlResult(control, "excepted", f"exception entry {exc.record.seq} until "
                                            f"{exc.expires_at:%Y-%m-%d}; {reason}", evidence, exc)
        else:
            out[control.id] = ControlResult(control, status, reason, evidence)
    return out


def evaluate_reporting(control: Control, scope: Scope) -> tuple[str, str, list[Evidence]]:
    """Status, reason and deciding incidents for a control with ``reporting_deadlines``: the
    incidents its rule selects, each judged against its reporting deadline (``controls.incidents``);
    the reason also names every retraction of, and pending withdrawal from, those incidents."""
    leaf = control.evidence
    assert isinstance(leaf, EvidenceRequirement) and control.reporting_deadlines  # the schema checks it
    selected = [e for e in scope.pool(leaf.kind, organisation_level=control.organisation_level)
                if leaf.matches(e.fields, control_id=control.id)]
    status, reason, evidence = reporting_status(selected, table=DEADLINES[control.reporting_deadlines],
                                                at=scope.at)
    return status, "; ".join([reason, *_withdrawals(leaf, control.id, scope)]), evidence


def open_incidents(view: SystemView, severities: list[str], *, model_version: str | None = None) -> list[Evidence]:
    """The system's open incidents of these severities in force (for one model version, if given)."""
    if not severities:
        return []
    return [i for i in view.of_kind("incident")
            if i.system == view.system and i.fields.get("status") == "open" and i.fields.get("severity") in severities
            and (model_version is None or i.model_version == model_version)]


def _at(x: ExceptionStatus, at: dt.datetime) -> ExceptionStatus:
    """The exception judged at ``at`` (it may expire in a forecast window)."""
    if x.state == "active" and x.expires_at <= at:
        return ExceptionStatus(x.system, x.record, x.decision, "expired", at)
    return x


def requirement_status(results: list[ControlResult]) -> str:
    """Combine the statuses of the controls mapped to one requirement."""
    if not results:
        return "missing"
    statuses = frozenset([c.status for c in results])
    combined = _COMBINED.get(statuses)
    if combined is None:
        combined = _COMBINED[statuses] = _combine(statuses)
    return combined


def _combine(statuses: frozenset[str]) -> str:
    if statuses <= _DONE:
        return "excepted" if "excepted" in statuses else "covered"
    if not statuses.isdisjoint(_SOME):
        return "partial"
    return next(s for s in _TELLING if s in statuses)


_COMBINED: dict[frozenset[str], str] = {}
"""requirement_status by set of control statuses (a few dozen sets at most: every requirement
of every system asks, the systems page 14,600 times at 100 systems)."""


_DONE = frozenset({"covered", "excepted"})
_SOME = _DONE | {"partial"}


def compute_coverage(
    graph: ControlGraph,
    view: SystemView,
    *,
    policy: ApprovalPolicy,
    frameworks: list[str] | None = None,
    at: dt.datetime | None = None,
    model_version: str | None = None,
    horizon_days: int | None = None,
) -> CoverageReport:
    """Coverage of ``view.system`` for ``frameworks`` (default: all loaded).

    Args:
        graph: the framework library and control catalog.
        view: the system's live records as of some time (``controls.state.load_system``).
        policy: the approval policy (decides when exceptions become active).
        frameworks: framework ids to report; crosswalk inference always looks at all.
        at: when freshness and expiry are judged (default ``view.as_of``).
        model_version: the version evaluations must be bound to (default: current).
        horizon_days: list requirements that start to bind within this many days as
            ``upcoming`` (with their date) rather than ``not_applicable``.

    Raises:
        ValueError: if ``view`` was loaded for other model versions.
    """
    at = at or view.as_of
    model_version = model_version or view.current_model_version
    if view.versions is not None and model_version is not None and model_version not in view.versions:
        raise ValueError(f"the view holds the deciding records for model versions {sorted(view.versions)}, "
                         f"not {model_version!r}")
    scope = Scope(view, at, model_version, _as_evidence(view, approved_votes(view, policy=policy)))
    exceptions = exception_statuses(view, policy=policy)
    controls = evaluate_controls(graph, scope, exceptions=exceptions)
    all_ids = [f.id for f in graph.frameworks()]
    wanted = frameworks or all_ids
    per_fw = {fid: _framework(graph, fid, view, controls, at, horizon_days) for fid in all_ids}
    direct = {r.node_id: r.status for fc in per_fw.values() for r in fc.requirements}
    for fid in wanted:
        _infer(graph, per_fw[fid], direct)
    return CoverageReport(
        system=view.system, as_of=view.as_of, at=at, model_version=model_version, view=view,
        frameworks=[per_fw[f] for f in wanted], controls=controls, exceptions=exceptions,
        requirements={r.node_id: r for fc in per_fw.values() for r in fc.requirements},
    )


def _framework(
    graph: ControlGraph, framework_id: str, view: SystemView, controls: dict[str, ControlResult], at: dt.datetime,
    horizon_days: int | None,
) -> FrameworkCoverage:
    fw = graph.framework(framework_id)
    index = _index(graph)
    results = []
    for req, verdict in _verdicts(graph, framework_id, view, at, horizon_days):
        base = RequirementResult(req.node_id, req.id, req.display_title, verdict.status, reason=verdict.reason,
                                 applies_from=verdict.applies_from, missing_facts=verdict.missing_facts)
        if verdict.status in NOT_BINDING:
            results.append(base)
            continue
        base.controls = [controls[c] for c in index.satisfying(req.node_id) if c in controls]
        if verdict.status == "applicable":  # needs_review stays so, until the record states the fact
            base.status = requirement_status(base.controls)
            base.reason = requirement_reason(base.controls, base.status)
        results.append(base)
    return FrameworkCoverage(framework_id, fw.info.name, fw.info.version, results)


def _verdicts(
    graph: ControlGraph, framework_id: str, view: SystemView, at: dt.datetime, horizon_days: int | None,
) -> list[tuple[Requirement, Verdict]]:
    return graph.assess_requirements(framework_id, eu_class=view.eu_class, eu_roles=view.eu_roles,
                                     facts=view.facts, as_of=at.date(), horizon_days=horizon_days)


def upcoming_requirements(
    graph: ControlGraph, framework_id: str, view: SystemView, *, at: dt.datetime, horizon_days: int,
) -> list[tuple[Requirement, Verdict]]:
    """The requirements coverage with ``horizon_days`` lists as ``upcoming`` for the framework (they
    start to bind within the horizon), with their verdicts. Applicability reads only the system's
    classification and facts, so any view of the system will do (no evidence is read)."""
    return [(r, v) for r, v in _verdicts(graph, framework_id, view, at, horizon_days) if v.status == "upcoming"]


def requirement_reason(results: list[ControlResult], status: str) -> str:
    """Why a requirement has its status: each control that holds it back, with its reason."""
    if not results:
        return "no control in the catalog satisfies it"
    if status in ("covered", "excepted"):
        return "; ".join(f"{c.control.id}: {c.reason}" for c in results)
    return "; ".join(f"{c.control.id} {c.status}: {c.reason}" for c in results if c.status not in ("covered",
                                                                                               "excepted"))


def _infer(graph: ControlGraph, fc: FrameworkCoverage, direct: dict[str, str]) -> None:
    for r in fc.requirements:
        if r.status in ("covered", "excepted") or r.status in NOT_BINDING:
            continue
        best: str | None = None
        for link in _index(graph).links(r.node_id):
            if direct.get(link.target) not in ("covered", "excepted"):
                continue
            doubted = bool(REVIEW_FLAGS & set(link.flags))  # never more than partial through a doubted edge
            level = "covered" if link.relation in _FULL_RELATIONS and not doubted else "partial"
            r.inferred_via.append({"requirement": link.target, "relation": link.relation,
                                   "crosswalk": link.crosswalk, "reviewed": link.reviewed,
                                   "needs_review": doubted})
            if best != "covered":
                best = level
        r.inferred = best


class _GraphIndex:
    """The graph's answers coverage asks for every requirement of every system, kept as tuples
    (the graph's own answers are fresh lists, built for callers that may change them)."""

    def __init__(self, graph: ControlGraph) -> None:
        self._graph = graph
        self._satisfying: dict[str, tuple[str, ...]] = {}
        self._links: dict[str, tuple[Any, ...]] = {}

    def satisfying(self, node_id: str) -> tuple[str, ...]:
        """Ids of the controls that satisfy the requirement directly, in catalog order."""
        hit = self._satisfying.get(node_id)
        if hit is None:
            hit = self._satisfying[node_id] = tuple(c.id for c in self._graph.controls_for(node_id))
        return hit

    def links(self, node_id: str) -> tuple[Any, ...]:
        """The requirement's crosswalk links, without the hierarchy."""
        hit = self._links.get(node_id)
        if hit is None:
            hit = self._links[node_id] = tuple(self._graph.crosswalk(node_id, include_hierarchy=False))
        return hit


_INDEXES: dict[str, _GraphIndex] = {}


def _index(graph: ControlGraph) -> _GraphIndex:
    index = _INDEXES.get(graph.content_hash)
    if index is None or index._graph is not graph:
        index = _INDEXES[graph.content_hash] = _GraphIndex(graph)
    return index
