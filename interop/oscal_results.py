"""A system's coverage as an OSCAL assessment-results document.

Everything is taken from the calls ``assure coverage``, ``assure gaps`` and
``assure exceptions`` make (:func:`controls.service.coverage`,
:func:`controls.gaps.gaps`, the report's exceptions); no status is recomputed
here. The document has one result, as of the given time:

* one **observation** per ledger record of the system (and organisation-wide
  record) received by then: what it says, ``collected`` = its ``observed_at``,
  ``expires`` = the earliest of its ``valid_until`` and the freshness limit
  (``max_age_days``) of the control rules it can satisfy, its entry hash, and as
  relevant evidence its RFC 9162 inclusion proof (a JSON file written beside the
  document, linked through back-matter with its SHA-256) and its artifacts;
* one **finding** per requirement of each framework assessed, with our status
  and reason, its implementation state, and the observations that decide it;
* one **risk** per gap (missing, stale, failing, partial, needs review: the
  reason, the evidence that would close it and, for the EU AI Act, the fine
  tier), and one per exception (risk acceptance) with a deviation status
  (``deviation-approved`` while active, ``deviation-requested`` while pending)
  and its expiry as the deadline.

UUIDs are derived from the ledger origin, the system, the as-of time and the
ids inside, so the same ledger and time give the same document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from controls import service
from controls.approvals import ApprovalPolicy
from controls.coverage import CoverageReport, RequirementResult
from controls.evidence import Evidence
from controls.exceptions import ExceptionStatus
from controls.gaps import Gap, gaps
from controls.graph import ControlGraph
from controls.state import SystemView
from frameworks.schema import rule_leaves
from interop.oscal_catalog import catalog_path
from interop.oscal_common import metadata, one_line, prop, stable_uuid, timestamp, token
from ledger.proofs import InclusionProof, prove_inclusions
from reports.model import record_headline

RESULTS_NAME = "assessment-results.json"

# Our requirement status → (objective state, reason, implementation state).
_OBJECTIVE = {
    "covered": ("satisfied", "pass", "implemented"),
    "excepted": ("not-satisfied", "other", "alternative"),
    "partial": ("not-satisfied", "fail", "partial"),
    "failing": ("not-satisfied", "fail", "partial"),
    "stale": ("not-satisfied", "fail", "partial"),
    "missing": ("not-satisfied", "fail", "planned"),
    "needs_review": ("not-satisfied", "other", None),
    "upcoming": ("satisfied", "other", "not-applicable"),
    "not_applicable": ("satisfied", "other", "not-applicable"),
}
_DEVIATION = {"active": "deviation-approved", "pending": "deviation-requested"}


@dataclass(frozen=True)
class ResultsExport:
    """An assessment-results document and the proof files it links to.

    Attributes:
        document: ``{"assessment-results": ...}``.
        files: the proof documents by path relative to the results file.
        report: the coverage it states.
    """

    document: dict[str, Any]
    files: dict[str, bytes]
    report: CoverageReport


def proof_path(seq: int) -> str:
    """Where an entry's inclusion proof is written, relative to the export directory."""
    return f"proofs/entry-{seq}.json"


def assessment_results(engine: Engine, system: str, *, graph: ControlGraph, policy: ApprovalPolicy,
                       frameworks: list[str] | None, as_of: dt.datetime) -> ResultsExport:
    """The assessment results of ``system`` as of ``as_of``.

    Args:
        engine: the ledger database.
        system: the AI system.
        graph: the framework library and control catalog.
        policy: the approval policy.
        frameworks: framework ids (default: every assessable one).
        as_of: the moment it describes.

    Raises:
        InputError: an unknown system or framework.
        IntegrityError: the stored Merkle nodes give no valid proof.
    """
    report = service.coverage(engine, system, graph=graph, policy=policy, frameworks=frameworks, as_of=as_of)
    view = service.system_view(engine, system, as_of=as_of, policy=policy)
    records = sorted(view.by_hash.values(), key=lambda e: e.seq)
    proofs = _proofs(engine, records)
    origin = next(iter(proofs.values())).origin if proofs else "ledger"
    doc_id = stable_uuid("assessment-results", origin, system, timestamp(as_of), *report_frameworks(report))
    hashes = {e.seq: e.entry_hash for e in records}
    files = {proof_path(seq): _proof_bytes(p, hashes[seq]) for seq, p in proofs.items()}
    builder = _Builder(doc_id, graph, view, report)
    observations = [builder.observation(e, proofs[e.seq], files[proof_path(e.seq)]) for e in records]
    gap_risks = {g.requirement: builder.gap_risk(g) for g in gaps(report, graph)}
    exception_risks = {x.record.seq: builder.exception_risk(x) for x in report.exceptions}
    findings = [builder.finding(fc.framework_id, r, gap_risks, exception_risks)
                for fc in report.frameworks for r in fc.requirements]
    result: dict[str, Any] = {
        "uuid": stable_uuid(doc_id, "result"),
        "title": one_line(f"Coverage of {system} as of {timestamp(as_of)}"),
        "description": f"Assure coverage of {view.name} ({system}) against "
                       f"{', '.join(report_frameworks(report))}, from the signed ledger entries received by "
                       f"{timestamp(as_of)}.",
        "start": timestamp(min((e.observed_at for e in records), default=as_of)),
        "end": timestamp(as_of),
        "props": builder.result_props(),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    }
    if observations:
        result["observations"] = observations
    risks = [*gap_risks.values(), *exception_risks.values()]
    if risks:
        result["risks"] = risks
    if findings:
        result["findings"] = findings
    body = {
        "uuid": doc_id,
        "metadata": metadata(f"Assessment results: {view.name} ({system})", when=as_of, version=f"{origin} "
                             f"{max((e.seq for e in records), default=0)}",
                             props=[prop("system", system), prop("ledger-origin", origin)]),
        "import-ap": {"href": f"#{builder.method_uuid}"},
        "results": [result],
        "back-matter": {"resources": [builder.method_resource(), *builder.resources]},
    }
    return ResultsExport({"assessment-results": body}, files, report)


def report_frameworks(report: CoverageReport) -> list[str]:
    """The framework ids a coverage report covers, in its order."""
    return [fc.framework_id for fc in report.frameworks]


def _proofs(engine: Engine, records: list[Evidence]) -> dict[int, InclusionProof]:
    """An inclusion proof of every record, all against one tree size (the ledger's size now)."""
    return {p.index: p for p in prove_inclusions(engine, [e.seq for e in records])}


def _proof_bytes(p: InclusionProof, entry_hash: str) -> bytes:
    doc = {"format": "assure-inclusion-proof/1", "entry_hash": entry_hash, **p.to_json()}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def expires(e: Evidence, graph: ControlGraph) -> dt.datetime | None:
    """When a record stops counting: the earliest of its ``valid_until`` and, over the control rules
    whose leaves it matches, ``observed_at`` + the leaf's ``max_age_days``."""
    ages = [leaf.max_age_days for c in graph.controls() for leaf in rule_leaves(c.evidence)
            if leaf.max_age_days and leaf.matches(e.fields, control_id=c.id)]
    ends = [t for t in (e.valid_until, e.observed_at + dt.timedelta(days=min(ages)) if ages else None) if t]
    return min(ends) if ends else None


class _Builder:
    """Builds the parts of one result, collecting the back-matter resources they link to."""

    def __init__(self, doc_id: str, graph: ControlGraph, view: SystemView, report: CoverageReport):
        self.doc_id = doc_id
        self.graph = graph
        self.view = view
        self.report = report
        self.resources: list[dict[str, Any]] = []
        self.method_uuid = stable_uuid(doc_id, "method")
        self.observed = set(view.by_hash)  # entry hashes that have an observation

    def observation_uuid(self, e: Evidence) -> str:
        return stable_uuid(self.doc_id, "observation", e.entry_hash)

    def observation(self, e: Evidence, proof: InclusionProof, proof_file: bytes) -> dict[str, Any]:
        state = ("retracted" if e.entry_hash in self.view.retracted else
                 "superseded" if e.entry_hash in self.view.superseded else "live")
        props = [prop("seq", e.seq), prop("entry-hash", e.entry_hash), prop("kind", e.kind),
                 prop("record-state", state), prop("system", e.system or "-")]
        props += [prop("signer", f"{s.owner} ({s.role})") for s in e.signers]
        if e.model_version:
            props.append(prop("model-version", e.model_version))
        if e.passed is not None:
            props.append(prop("passed", str(e.passed).lower()))
        evidence = [self._proof_evidence(e, proof, proof_file)]
        evidence += [self._artifact_evidence(e, i, a) for i, a in enumerate(e.fields.get("artifacts") or [])]
        out: dict[str, Any] = {
            "uuid": self.observation_uuid(e),
            "title": one_line(f"Entry {e.seq}: {e.kind}"),
            "description": record_headline(e, by_hash=self.view.by_hash),
            "props": props,
            "methods": ["TEST" if e.kind == "evaluation" else "EXAMINE"],
            "relevant-evidence": evidence,
            "collected": timestamp(e.observed_at),
        }
        until = expires(e, self.graph)
        if until is not None:
            out["expires"] = timestamp(until)
        if e.fields.get("notes"):
            out["remarks"] = str(e.fields["notes"])
        return out

    def _proof_evidence(self, e: Evidence, proof: InclusionProof, data: bytes) -> dict[str, Any]:
        rid = stable_uuid(self.doc_id, "proof", e.entry_hash)
        self.resources.append({
            "uuid": rid, "title": f"Inclusion proof of entry {e.seq}",
            "props": [prop("entry-hash", e.entry_hash), prop("tree-size", proof.tree_size),
                      prop("root", proof.root.hex())],
            "rlinks": [{"href": proof_path(e.seq), "media-type": "application/json",
                        "hashes": [{"algorithm": "SHA-256", "value": hashlib.sha256(data).hexdigest()}]}],
        })
        return {"href": f"#{rid}", "description": f"RFC 9162 inclusion proof of entry {e.seq} (entry hash "
                f"{e.entry_hash}) in the ledger's Merkle tree of {proof.tree_size} entries, root "
                f"{proof.root.hex()}", "props": [prop("evidence", "inclusion-proof")]}

    def _artifact_evidence(self, e: Evidence, i: int, artifact: dict[str, Any]) -> dict[str, Any]:
        rid = stable_uuid(self.doc_id, "artifact", e.entry_hash, i)
        link: dict[str, Any] = {"href": str(artifact.get("uri") or f"#{rid}")}
        if artifact.get("sha256"):
            link["hashes"] = [{"algorithm": "SHA-256", "value": str(artifact["sha256"])}]
        self.resources.append({"uuid": rid, "title": one_line(str(artifact.get("name") or "artifact")),
                               "rlinks": [link]})
        return {"href": f"#{rid}", "description": f"artifact {artifact.get('name')} of entry {e.seq}",
                "props": [prop("evidence", "artifact")]}

    def finding(self, framework: str, r: RequirementResult, gap_risks: dict[str, dict[str, Any]],
                exception_risks: dict[int, dict[str, Any]]) -> dict[str, Any]:
        state, reason, implementation = _OBJECTIVE[r.status]
        target: dict[str, Any] = {
            "type": "objective-id", "target-id": token(r.requirement_id), "title": one_line(r.title),
            "props": [prop("framework", framework), prop("requirement", r.node_id),
                      prop("catalog", catalog_path(framework))],
            "status": {"state": state, "reason": reason},
        }
        if implementation:
            target["implementation-status"] = {"state": implementation}
        props = [prop("status", r.status)]
        if r.inferred:
            props.append(prop("inferred", r.inferred))
        props += [prop("control", f"{c.control.id}: {c.status}") for c in r.controls]
        out: dict[str, Any] = {
            "uuid": stable_uuid(self.doc_id, "finding", r.node_id),
            "title": one_line(f"{r.node_id}: {r.status}"),
            "description": r.reason or r.status,
            "props": props,
            "target": target,
        }
        related = [{"observation-uuid": self.observation_uuid(e)} for e in r.evidence if e.entry_hash in self.observed]
        if related:
            out["related-observations"] = related
        risks = [gap_risks[r.node_id]["uuid"]] if r.node_id in gap_risks else []
        risks += [exception_risks[c.exception.record.seq]["uuid"] for c in r.controls
                  if c.exception is not None and c.exception.record.seq in exception_risks]
        if risks:
            out["related-risks"] = [{"risk-uuid": u} for u in dict.fromkeys(risks)]
        return out

    def gap_risk(self, g: Gap) -> dict[str, Any]:
        data = g.to_json()
        needed = "; ".join(f"{c['control']}: {c['evidence_needed']}" for c in data["to_close"])
        props = [prop("gap-status", g.status), prop("framework", g.framework), prop("requirement", g.requirement)]
        if g.penalty is not None:
            props.append(prop("fine-tier", g.penalty.tier, remarks=g.penalty.summary))
        out: dict[str, Any] = {
            "uuid": stable_uuid(self.doc_id, "gap", g.requirement),
            "title": one_line(f"Gap: {g.requirement} is {g.status}"),
            "description": g.reason or g.status,
            "statement": f"To close it: {needed}" if needed else "Review the requirement's applicability.",
            "props": props,
            "status": "open",
        }
        related = [{"observation-uuid": self.observation_uuid(e)} for c in g.controls for e in c.evidence
                   if e.entry_hash in self.observed]
        if related:
            out["related-observations"] = list({r["observation-uuid"]: r for r in related}.values())
        return out

    def exception_risk(self, x: ExceptionStatus) -> dict[str, Any]:
        f = x.record.fields
        props = [prop("exception-state", x.state), prop("entry-hash", x.record.entry_hash),
                 prop("owner", f.get("owner") or "-")]
        props += [prop("waives-control", c) for c in x.controls]
        if x.problem:
            props.append(prop("problem", x.problem))
        out: dict[str, Any] = {
            "uuid": stable_uuid(self.doc_id, "exception", x.record.entry_hash),
            "title": one_line(f"Exception (entry {x.record.seq}): {', '.join(x.controls)}"),
            "description": str(f.get("rationale") or "risk acceptance"),
            "statement": str(f.get("remediation") or "no remediation plan recorded"),
            "props": props,
            "status": _DEVIATION.get(x.state, "open" if x.state != "expired" else "closed"),
            "deadline": timestamp(x.expires_at),
            "related-observations": [{"observation-uuid": self.observation_uuid(x.record)}],
        }
        if x.compensating_controls:
            out["mitigating-factors"] = [
                {"uuid": stable_uuid(self.doc_id, "mitigation", x.record.entry_hash, c),
                 "description": f"compensating control {c}"} for c in x.compensating_controls]
        return out

    def result_props(self) -> list[dict[str, Any]]:
        v, report = self.view, self.report
        props = [prop("system", v.system), prop("risk-tier", v.risk_tier), prop("eu-class", v.eu_class),
                 prop("eu-role", v.eu_role), prop("model-version", report.model_version or "-")]
        props += [prop("percent-covered", fc.percent, cls=fc.framework_id) for fc in report.frameworks]
        return props

    def method_resource(self) -> dict[str, Any]:
        return {"uuid": self.method_uuid, "title": "Assure coverage assessment",
                "description": "No separate assessment plan: each requirement's status is computed by Assure "
                               "from the signed ledger entries, the control catalog's evidence rules and the "
                               "approval policy (see 'assure coverage'); nothing was tested by hand."}
