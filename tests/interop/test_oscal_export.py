"""``assure export oscal``: every file loads strictly with compliance-trestle's OSCAL models,
and what it says is what coverage, gaps and exceptions say."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from controls import service
from controls.approvals import load_policy
from controls.gaps import gaps
from interop.oscal_common import NS
from interop.validate import validate_directory, validate_file
from ledger.merkle import leaf_hash, verify_inclusion
from tests.interop.conftest import Exported, export
from tests.reports.conftest import AS_OF


def _ours(item: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in item.get("props", []) if p["name"] == name and p.get("ns") == NS]


def _results(d: Path) -> dict[str, Any]:
    return json.loads((d / "assessment-results.json").read_text())["assessment-results"]


def test_every_file_is_valid_oscal_for_its_model(exported: Exported) -> None:
    found = validate_directory(exported.dir)
    assert sorted(found.items()) == [
        ("assessment-results.json", "assessment-results"),
        ("catalogs/eu-ai-act.json", "catalog"),
        ("catalogs/iso-42001.json", "catalog"),
        ("catalogs/nist-ai-600-1.json", "catalog"),
        ("catalogs/nist-ai-rmf.json", "catalog"),
        ("mapping-collection.json", "mapping-collection"),
        ("profiles/nist-ai-600-1.json", "profile"),
    ]


@pytest.mark.parametrize(("change", "problem"), [
    (lambda r: r["results"][0]["findings"][0].update({"colour": "red"}), "Extra inputs are not permitted"),
    (lambda r: r["results"][0]["observations"][0].update({"uuid": "not-a-uuid"}), "pattern"),
    (lambda r: r["results"][0]["observations"][0].pop("collected"), "Field required"),
    (lambda r: r["results"][0]["risks"][0].update({"deadline": "next week"}), "datetime"),
], ids=["unknown field", "bad uuid", "missing collected", "bad deadline"])
def test_the_validator_refuses_what_oscal_does_not_allow(exported: Exported, change: Any, problem: str) -> None:
    path = exported.dir / "assessment-results.json"
    doc = json.loads(path.read_text())
    change(doc["assessment-results"])
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=problem):
        validate_file(path)


def test_one_observation_per_record_with_a_proof_that_verifies(exported: Exported) -> None:
    view = service.system_view(exported.engine, "credit-scoring", as_of=AS_OF, policy=load_policy(None))
    records = sorted(view.by_hash.values(), key=lambda e: e.seq)
    body = _results(exported.dir)
    resources = {r["uuid"]: r for r in body["back-matter"]["resources"]}
    observations = body["results"][0]["observations"]
    assert [int(_ours(o, "seq")[0]) for o in observations] == [e.seq for e in records]
    assert max(e.received_at for e in records) <= AS_OF  # the record received later is left out
    for o, e in zip(observations, records, strict=True):
        assert _ours(o, "entry-hash") == [e.entry_hash]
        assert o["collected"] == e.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        proof_ref = o["relevant-evidence"][0]["href"].removeprefix("#")
        link = resources[proof_ref]["rlinks"][0]
        data = (exported.dir / link["href"]).read_bytes()
        assert link["hashes"] == [{"algorithm": "SHA-256", "value": hashlib.sha256(data).hexdigest()}]
        proof = json.loads(data)
        assert proof["entry_hash"] == e.entry_hash and proof["index"] == e.seq
        verify_inclusion(leaf_hash(base64.b64decode(proof["leaf_base64"])), proof["index"], proof["tree_size"],
                         [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root"]))
    states = {int(_ours(o, "seq")[0]): _ours(o, "record-state")[0] for o in observations}
    assert sorted(s for s in states.values() if s != "live") == ["retracted"]


def test_a_record_expires_when_the_rule_it_serves_stops_counting_it(exported: Exported) -> None:
    observations = _results(exported.dir)["results"][0]["observations"]
    (policy,) = [o for o in observations if "AI policy" in o["description"]]
    # The organisation-wide AI policy names GOV-14, whose rule counts a policy for max_age_days.
    days = exported.graph.control("GOV-14").evidence.max_age_days
    collected = dt.datetime.fromisoformat(policy["collected"])
    assert days and dt.datetime.fromisoformat(policy["expires"]) == collected + dt.timedelta(days=days)
    evaluation = next(o for o in observations if _ours(o, "kind") == ["evaluation"])
    assert evaluation["methods"] == ["TEST"]


def test_findings_are_the_coverage_statuses_and_reasons(exported: Exported) -> None:
    report = service.coverage(exported.engine, "credit-scoring", graph=exported.graph, policy=load_policy(None),
                              as_of=AS_OF)
    expected = {r.node_id: (r.status, r.reason) for fc in report.frameworks for r in fc.requirements}
    findings = _results(exported.dir)["results"][0]["findings"]
    got = {_ours(f["target"], "requirement")[0]: (_ours(f, "status")[0], f["description"]) for f in findings}
    assert got == {k: (s, reason or s) for k, (s, reason) in expected.items()}
    covered = [f for f in findings if _ours(f, "status") == ["covered"]]
    assert covered and all(f["target"]["status"]["state"] == "satisfied" for f in covered)
    missing = [f for f in findings if _ours(f, "status") == ["missing"]]
    assert missing and all(f["target"]["status"] == {"state": "not-satisfied", "reason": "fail"} for f in missing)


def test_gaps_and_exceptions_are_risks(exported: Exported) -> None:
    policy = load_policy(None)
    report = service.coverage(exported.engine, "credit-scoring", graph=exported.graph, policy=policy, as_of=AS_OF)
    risks = _results(exported.dir)["results"][0]["risks"]
    gap_risks = [r for r in risks if _ours(r, "gap-status")]
    assert sorted(_ours(r, "requirement")[0] for r in gap_risks) == sorted(g.requirement for g in
                                                                           gaps(report, exported.graph))
    (exc,) = [r for r in risks if _ours(r, "exception-state")]
    (status,) = report.exceptions
    # The approver approved their own exception: one of the two approvals a high-risk system needs.
    assert status.state == "pending" and exc["status"] == "deviation-requested"
    assert exc["deadline"] == status.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _ours(exc, "waives-control") == ["EVAL-ROBUST-01"]
    assert [m["description"] for m in exc["mitigating-factors"]] == ["compensating control OPS-MONITOR-01"]


def test_the_same_ledger_and_time_give_the_same_bytes(exported: Exported, tmp_path: Path) -> None:
    again = export(exported.engine, exported.graph, tmp_path / "again")
    assert [(f.path, f.sha256) for f in again.files] == [(f.path, f.sha256) for f in exported.result.files]


def test_cli_export_and_its_errors(run_cli: Any, db_url: str, exported: Exported, tmp_path: Path) -> None:
    res = run_cli("export", "oscal", "--system", "credit-scoring", "--as-of", "2026-11-02T15:00:00Z", "-o", "out",
                  "--json", db=db_url)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {f["model"] for f in data["files"]} == {"assessment-results", "catalog", "profile",
                                                   "mapping-collection", "proof"}
    assert validate_directory(tmp_path / "out")
    for args, message in (
        (("--system", "nope"), "system 'nope' is not registered"),
        (("--system", "credit-scoring", "--framework", "pci-dss"), "unknown framework 'pci-dss'"),
        (("--system", "credit-scoring", "--as-of", "soon"), "soon"),
    ):
        res = run_cli("export", "oscal", *args, "-o", "refused", db=db_url)
        assert res.exit_code == 2 and message in res.output, res.output
        assert "Traceback" not in res.output and not (tmp_path / "refused").exists()
