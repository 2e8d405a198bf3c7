"""CLI for GRC staff, pipelines and leads: coverage, gate, gaps, exceptions, trace."""

from __future__ import annotations

import json

import pytest
import yaml

from ledger.dsse import Envelope, pae
from ledger.keys import load_public_key
from tests.conftest import eval_record, system_record

MINI_CATALOG = {
    "format": "assure-controls/1",
    "catalog": {"id": "assure-default", "name": "Tiny catalog for the gate test", "version": "1"},
    "controls": [{
        "id": "EVAL-FAIR-01", "title": "Fairness evaluation", "description": "A passing fairness run.",
        "owner": "RAI", "satisfies": ["nist-ai-rmf:MEASURE-2.11"],
        "evidence": {"kind": "evaluation", "filters": {"suite": "fairness", "passed": True}},
    }],
}


@pytest.fixture
def world(run_cli, db_url, tmp_path):
    for name in ("admin", "ci", "a1", "a2"):
        assert run_cli("keys", "generate", "--out", f"{name}.pem").exit_code == 0
    assert run_cli("init", "--admin-key", "admin.pem", db=db_url).exit_code == 0
    for name, role in (("ci", "pipeline"), ("a1", "approver"), ("a2", "approver")):
        r = run_cli("keys", "trust", f"{name}.pem.pub", "--role", role, "--owner", name, "--key", "admin.pem", db=db_url)
        assert r.exit_code == 0, r.output
    records = [
        system_record(),
        {"kind": "model_version", "system": "credit-scoring", "observed_at": "2026-11-01T10:00:00Z",
         "version": "2.1.0", "artifact_sha256": "ab" * 32},
    ]
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(records))
    assert run_cli("append", "base.yaml", "--key", "admin.pem", db=db_url).exit_code == 0
    (tmp_path / "eval.json").write_text(json.dumps(eval_record(model_version="2.1.0")))
    assert run_cli("append", "eval.json", "--key", "ci.pem", db=db_url).exit_code == 0
    return db_url


def _mv_hash(run_cli, db) -> str:
    rows = json.loads(run_cli("log", "--kind", "model_version", "--json", db=db).stdout)
    return rows[0]["entry_hash"]


def test_coverage_json_and_fail_under(run_cli, world) -> None:
    r = run_cli("coverage", "--system", "credit-scoring", "--framework", "nist-ai-rmf", "--json", db=world)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    (fw,) = data["frameworks"]
    assert fw["framework"] == "nist-ai-rmf" and fw["applicable"] == 72
    req = next(x for x in fw["requirements"] if x["id"] == "MEASURE-2.11")
    assert {"control": "EVAL-FAIR-01", "status": "covered"} in req["controls"]
    r = run_cli("coverage", "--system", "credit-scoring", "--fail-under", "90", "--summary", db=world)
    assert r.exit_code == 1 and "coverage below 90" in r.stderr
    r = run_cli("coverage", "--system", "credit-scoring", "--csv", db=world)
    assert r.stdout.splitlines()[0].startswith("framework,requirement,title,status")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["coverage", "--system", "nope"], "system 'nope' is not registered"),
        (["coverage", "--system", "credit-scoring", "--framework", "sox"], "unknown framework 'sox'"),
        (["coverage", "--system", "credit-scoring", "--as-of", "last tuesday"], "invalid timestamp"),
        (["gaps", "--system", "credit-scoring", "--forecast", "soon"], "invalid duration"),
    ],
)
def test_bad_arguments_exit_2(run_cli, world, args, message) -> None:
    r = run_cli(*args, db=world)
    assert r.exit_code == 2
    assert message in r.stderr


def test_gate_passes_only_with_two_other_approvers_and_signs_verdict(run_cli, world, tmp_path) -> None:
    cat_dir = tmp_path / "fw"
    cat_dir.mkdir()
    (cat_dir / "controls.yaml").write_text(yaml.safe_dump(MINI_CATALOG))
    gate = ["gate", "--system", "credit-scoring", "--model-version", "2.1.0", "--frameworks-dir", str(cat_dir)]
    r = run_cli(*gate, db=world)
    assert r.exit_code == 1 and "release approval pending: 0/2" in r.stdout
    target = _mv_hash(run_cli, world)
    for n, key in enumerate(("a1", "a2")):
        (tmp_path / f"ok{n}.yaml").write_text(yaml.safe_dump({
            "kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T10:00:00Z",
            "target": target, "decision": "approve", "notes": key}))
        assert run_cli("append", f"ok{n}.yaml", "--key", f"{key}.pem", db=world).exit_code == 0
    r = run_cli(*gate, "--sign", "admin.pem", "-o", "verdict.json", "--json", db=world)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["verdict"] == "pass"
    env = Envelope.from_json(json.loads((tmp_path / "verdict.json").read_text()))
    assert env.payload_type == "application/vnd.in-toto+json"
    assert load_public_key(tmp_path / "admin.pem.pub").verify(pae(env.payload_type, env.payload), env.signatures[0].sig)
    statement = json.loads(env.payload)
    assert statement["subject"][0]["digest"]["sha256"] == "ab" * 32
    assert statement["predicate"]["ledger"]["size"] >= 7


def test_exceptions_expiring_alert_exits_1(run_cli, world, tmp_path) -> None:
    import datetime as dt

    # The CLI stamps entries with the real clock, so dates here are relative to today.
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    exc = {"kind": "exception", "system": "credit-scoring", "observed_at": "2026-11-02T00:00:00Z",
           "controls": ["EVAL-ROBUST-01"], "rationale": "r", "compensating_controls": ["OPS-MONITOR-01"],
           "owner": "Head of Risk", "expires_at": expires, "remediation": "retrain"}
    (tmp_path / "exc.yaml").write_text(yaml.safe_dump(exc))
    assert run_cli("append", "exc.yaml", "--key", "a1.pem", db=world).exit_code == 0
    (item,) = json.loads(run_cli("exceptions", "--json", db=world).stdout)
    assert item["state"] == "pending" and item["days_left"] == 19 and item["owner"] == "Head of Risk"
    r = run_cli("exceptions", "--expiring", "30d", "--fail-if-expiring", db=world)
    assert r.exit_code == 0  # pending exceptions cover nothing, so nothing is expiring
    exc_hash = json.loads(run_cli("log", "--kind", "exception", "--json", db=world).stdout)[0]["entry_hash"]
    for n, key in enumerate(("a1", "a2", "ci")):
        (tmp_path / f"ap{n}.yaml").write_text(yaml.safe_dump({
            "kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-03T00:00:00Z",
            "target": exc_hash, "decision": "approve", "notes": key}))
        r = run_cli("append", f"ap{n}.yaml", "--key", f"{key}.pem", db=world)
        assert r.exit_code == (2 if key == "ci" else 0)  # a pipeline key may not approve at all
    # a1 submitted the exception, so only a2's approval counts; a high-risk system needs two.
    (item,) = json.loads(run_cli("exceptions", "--json", db=world).stdout)
    assert item["state"] == "pending"
    assert item["approval"]["not_counted"][0]["reason"].endswith("who also signed the target (separation of duties)")
    r = run_cli("exceptions", "--expiring", "30d", "--fail-if-expiring", db=world)
    assert r.exit_code == 0
    # With a policy that needs one approver the exception is active, and expiring.
    policy = tmp_path / "policy.yaml"
    rule = {"approvers": 1, "roles": ["approver"]}
    policy.write_text(yaml.safe_dump({"format": "assure-approval-policy/1", "decisions": {
        d: {"low": rule, "medium": rule, "high": rule} for d in ("release", "exception", "risk_assessment", "other")}}))
    r = run_cli("exceptions", "--expiring", "30d", "--fail-if-expiring", "--approval-policy", str(policy), db=world)
    assert r.exit_code == 1
    assert "EVAL-ROBUST-01" in r.stdout and "1 exception(s) expire within 30d" in r.stderr
    r = run_cli("exceptions", "--expiring", "10d", "--fail-if-expiring", "--approval-policy", str(policy), db=world)
    assert r.exit_code == 0


def test_evaluation_of_unregistered_version_is_refused_and_trace_flags_a_retracted_one(run_cli, world,
                                                                                      tmp_path) -> None:
    (tmp_path / "orphan.json").write_text(json.dumps(eval_record(model_version="9.9.9", suite="robustness")))
    r = run_cli("append", "orphan.json", "--key", "ci.pem", db=world)
    assert r.exit_code == 2
    assert "orphan.json: field 'model_version': model version '9.9.9' is not registered" in r.stderr
    r = run_cli("trace", "--system", "credit-scoring", db=world)
    assert r.exit_code == 0 and "model 2.1.0" in r.stdout and "fairness passed" in r.stdout
    # The admin who registered it withdraws the model version: the evaluation of 2.1.0 is left dangling.
    # (The pipeline may not: it did not submit that record.)
    (tmp_path / "retract.json").write_text(json.dumps({
        "kind": "retract", "system": "credit-scoring", "observed_at": "2026-11-02T11:00:00Z",
        "target": _mv_hash(run_cli, world), "reason": "wrong artifact digest"}))
    r = run_cli("append", "retract.json", "--key", "ci.pem", db=world)
    assert r.exit_code == 2 and "only the submitter of entry" in r.stderr
    assert run_cli("append", "retract.json", "--key", "admin.pem", db=world).exit_code == 0
    r = run_cli("trace", "--system", "credit-scoring", db=world)
    assert r.exit_code == 1
    assert "names model version '2.1.0', which is not registered" in r.stdout


def test_systems_list_and_show(run_cli, world) -> None:
    rows = json.loads(run_cli("systems", "list", "--json", db=world).stdout)
    assert [(s["system"], s["risk_tier"], s["current_model_version"]) for s in rows] == [("credit-scoring", "high", "2.1.0")]
    r = run_cli("systems", "show", "credit-scoring", db=world)
    assert r.exit_code == 0 and "fairness" in r.stdout


def _approve_release(run_cli, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = _mv_hash(run_cli, world)
    for n, key in enumerate(("a1", "a2")):
        (tmp_path / f"ok{n}.yaml").write_text(yaml.safe_dump({
            "kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T10:00:00Z",
            "target": target, "decision": "approve"}))
        assert run_cli("append", f"ok{n}.yaml", "--key", f"{key}.pem", db=world).exit_code == 0


def test_gate_verdicts_are_signed_by_decision_keys_and_verified_offline(run_cli, world, tmp_path) -> None:
    cat_dir = tmp_path / "fw"
    cat_dir.mkdir()
    (cat_dir / "controls.yaml").write_text(yaml.safe_dump(MINI_CATALOG))
    gate = ["gate", "--system", "credit-scoring", "--model-version", "2.1.0", "--frameworks-dir", str(cat_dir)]
    _approve_release(run_cli, world, tmp_path)
    r = run_cli(*gate, "--sign", "ci.pem", "-o", "by-ci.json", db=world)  # a pipeline cannot certify itself
    assert r.exit_code == 2 and "active admin or approver key" in r.stderr
    assert not (tmp_path / "by-ci.json").exists()
    assert run_cli("checkpoint", "--key", "admin.pem", "-o", "cp.txt", db=world).exit_code == 0
    r = run_cli(*gate, "--sign", "a1.pem", "-o", "verdict.json", db=world)
    assert r.exit_code == 0, r.output
    verify = ["verify-gate", "verdict.json", "--trust-key", "a1.pem.pub"]
    r = run_cli(*verify, "--checkpoint", "cp.txt", "--ledger-key", "admin.pem.pub")  # no database
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("PASS: credit-scoring 2.1.0") and "extends your checkpoint" in r.stdout
    r = run_cli("verify-gate", "verdict.json", "--trust-key", "a2.pem.pub")
    assert r.exit_code == 1 and "not signed by the pinned key" in r.stderr
    # Flip the verdict inside the signed payload: the signature no longer verifies.
    env = json.loads((tmp_path / "verdict.json").read_text())
    import base64
    payload = base64.b64decode(env["payload"]).replace(b'"verdict":"pass"', b'"verdict":"fail"')
    env["payload"] = base64.b64encode(payload).decode()
    (tmp_path / "edited.json").write_text(json.dumps(env))
    r = run_cli("verify-gate", "edited.json", "--trust-key", "a1.pem.pub", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["problems"][0].startswith("not signed by the pinned key")


def test_small_things_users_hit(run_cli, world) -> None:
    r = run_cli("trace", "--system", "credit-scoring", "--model-version", "9.9", db=world)
    assert r.exit_code == 2 and "model version '9.9' is not registered for credit-scoring (registered: 2.1.0)" in r.stderr
    r = run_cli("coverage", "--system", "credit-scoring", "--json", "--csv", db=world)
    assert r.exit_code == 2 and "--json and --csv" in r.stderr
    r = run_cli("kpis", "--as-of", "2020-01-01", db=world)
    assert r.exit_code == 0 and "no system was registered as of 2020-01-01T00:00:00Z" in r.stdout
    keys = json.loads(run_cli("keys", "list", "--json", db=world).stdout)
    assert all(k["trusted_at"].endswith("Z") for k in keys)
