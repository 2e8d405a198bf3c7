"""A second ledger for the PDF tests: every kind of record, under a user-supplied policy.

The shared ``world`` (tests/reports/conftest.py) is small and built with the
built-in policy. This one adds what a reader of the PDF must find in words: a
robustness evaluation whose metric misses its threshold, the exception that
waives it (20 days left), a release approved with conditions, an open high
incident reported to the authority, a risk register, a document with an
artifact digest, a superseded data sheet, a retracted model card, a pending
withdrawal of the failing run and a pending reclassification, an
organisation-wide policy, and names long enough to test the layout (a 41-char
system id, a 33-char key owner). The package is built once per session.

Import the fixture into a test module: ``from tests.reports.pdf_world import rich_fixture  # noqa: F401``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controls.approvals import DEFAULT_POLICY
from controls.graph import load_graph
from ledger import migrate
from ledger.db import make_engine
from ledger.keys import PrivateKey
from ledger.store import Ledger, init_ledger, trust_key
from reports.package import PackageResult, build_package
from tests.conftest import Keys, docs
from tests.reports.conftest import unzip

SYSTEM = "consumer-credit-scoring-eu-retail-lending"
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
AS_OF = T0 + 48 * H
DIGEST = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
PIPELINE_OWNER = "ci: model pipelines (credit risk)"


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Rich:
    """The ledger, its package and the hashes the tests look for."""

    db_url: str
    result: PackageResult
    pdf: bytes
    seqs: dict[str, int]


def populate(led: Ledger, keys: Keys) -> dict[str, int]:
    """Every kind of record; returns the seq of the entries tests name."""
    init_ledger(led.engine, keys.admin, origin="rich.example/ledger", now=T0)
    for key, role, owner in ((keys.pipeline, "pipeline", PIPELINE_OWNER), (keys.approver, "approver", "RAI lead"),
                             (keys.approver2, "approver", "Head of Risk")):
        trust_key(led, keys.admin, key.public, role=role, owner=owner, now=T0)
    seqs: dict[str, int] = {}

    def put(name: str, key: PrivateKey, at: dt.datetime, record: dict[str, Any]) -> Any:
        (entry,) = led.append(docs({"system": SYSTEM, "observed_at": iso(at)} | record), signing_key=key, now=at)
        seqs[name] = entry.seq
        return entry

    put("system", keys.admin, T0 + H, {
        "kind": "system", "name": "Consumer credit scoring for EU retail lending", "owner": "Risk Analytics",
        "purpose": "Scores consumer credit applications for creditworthiness", "risk_tier": "high",
        "eu_class": "high_risk_annex_iii", "eu_role": "provider",
        "intended_use": "Decision support for credit officers; never fully automated refusals"})
    mv = put("model_version", keys.pipeline, T0 + 2 * H, {
        "kind": "model_version", "version": "2.1.0", "artifact_sha256": "9f" * 32, "commit": "4e1d2c9",
        "datasets": ["bureau-2026q3", "applications-2026q3"]})
    put("fairness", keys.pipeline, T0 + 3 * H, {
        "kind": "evaluation", "model_version": "2.1.0", "suite": "fairness",
        "metrics": {"demographic_parity_gap": 0.031, "equal_opportunity_gap": 0.024},
        "thresholds": {"demographic_parity_gap": {"max": 0.05}, "equal_opportunity_gap": {"max": 0.05}},
        "passed": True, "datasets": ["holdout-2026q3"]})
    put("performance", keys.pipeline, T0 + 3 * H, {
        "kind": "evaluation", "model_version": "2.1.0", "suite": "performance",
        "metrics": {"auc": 0.812, "brier": 0.142}, "thresholds": {"auc": {"min": 0.78}}, "passed": True})
    robust = put("robustness", keys.pipeline, T0 + 3 * H, {
        "kind": "evaluation", "model_version": "2.1.0", "suite": "robustness",
        "metrics": {"accuracy_drop_under_noise": 0.061}, "thresholds": {"accuracy_drop_under_noise": {"max": 0.05}},
        "passed": False, "datasets": ["noisy-bureau-2026q3"]})
    card = put("card_wrong", keys.pipeline, T0 + 4 * H, {
        "kind": "document", "doc_type": "model_card", "title": "Model card 2.0 (attached by mistake)",
        "model_version": "2.1.0"})
    put("card_retraction", keys.pipeline, T0 + 5 * H, {
        "kind": "retract", "target": card.entry_hash, "reason": "wrong model card attached"})
    put("card", keys.pipeline, T0 + 5 * H, {
        "kind": "document", "doc_type": "model_card", "title": "Credit scoring model card v2.1", "model_version": "2.1.0",
        "artifacts": [{"name": "model-card.md", "sha256": DIGEST,
                       "uri": "https://git.example.com/ml/credit-scoring/-/blob/4e1d2c9f0a7b/docs/MODEL_CARD.md"}]})
    sheet = put("sheet_v1", keys.pipeline, T0 + 6 * H, {
        "kind": "document", "doc_type": "data_sheet", "title": "Bureau data sheet v1", "model_version": "2.1.0"})
    put("sheet_v2", keys.pipeline, T0 + 7 * H, {
        "kind": "document", "doc_type": "data_sheet", "title": "Bureau data sheet v2", "model_version": "2.1.0",
        "supersedes": sheet.entry_hash, "notes": "v1 listed the 2025 bureau extract; corrected to 2026q3"})
    put("risk", keys.approver, T0 + 8 * H, {
        "kind": "risk_assessment", "risk_tier": "high", "residual_risk": "medium", "model_version": "2.1.0",
        "risks": [
            {"id": "R-1", "description": "Disparate impact on protected groups in approval rates", "severity": "high",
             "likelihood": "possible", "mitigation": "Fairness gate on every release; quarterly bias audit",
             "owner": "RAI lead"},
            {"id": "R-2", "description": "Degraded accuracy under noisy bureau data", "severity": "medium",
             "likelihood": "likely", "mitigation": "Robustness suite; manual review of incomplete inputs"}]})
    put("policy", keys.admin, T0 + 9 * H, {"system": "*", "kind": "document", "doc_type": "policy",
                                           "title": "Responsible AI policy", "controls": ["GOV-14"]})
    exc = put("exception", keys.admin, T0 + 10 * H, {
        "kind": "exception", "controls": ["EVAL-ROBUST-01"],
        "rationale": "Robustness regression under synthetic noise; real-world input noise is lower and monitored",
        "compensating_controls": ["OPS-MONITOR-01"], "owner": "Head of Risk Analytics",
        "expires_at": iso(AS_OF + 20 * 24 * H + 5 * H), "remediation": "Retrain with noise augmentation in 2.2"})
    for name, key in (("approve_exc_1", keys.approver), ("approve_exc_2", keys.approver2)):
        put(name, key, T0 + 11 * H, {"kind": "approval", "target": exc.entry_hash, "decision": "approve"})
    for name, key in (("release_1", keys.approver), ("release_2", keys.approver2)):
        put(name, key, T0 + 12 * H, {"kind": "approval", "target": mv.entry_hash, "decision": "approve",
                                     "conditions": ["Monitor approval-rate parity weekly for the first month"]})
    put("incident", keys.pipeline, T0 + 13 * H, {
        "kind": "incident", "title": "Approval-rate drift in segment B", "severity": "high", "status": "open",
        "model_version": "2.1.0", "reported_to_authority": True,
        "description": "Approval rate for applicants aged 18-25 fell 9 points in a week"})
    put("withdraw_robustness", keys.pipeline, T0 + 14 * H, {
        "kind": "retract", "target": robust.entry_hash, "reason": "flaky test environment"})
    put("reclassify", keys.admin, T0 + 15 * H, {
        "kind": "system", "name": "Consumer credit scoring for EU retail lending", "owner": "Risk Analytics",
        "purpose": "Scores consumer credit applications for creditworthiness", "risk_tier": "medium",
        "eu_class": "high_risk_annex_iii", "eu_role": "provider",
        "notes": "human review of every refusal since October"})
    return seqs


def user_policy(directory: Path) -> Path:
    """The built-in policy with one change: two approvers for 'other' decisions of high-risk systems."""
    text = DEFAULT_POLICY.read_text().replace("high: {approvers: 1, roles: [approver]}",
                                              "high: {approvers: 2, roles: [approver]}")
    path = directory / "strict-policy.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session", name="rich")
def rich_fixture(tmp_path_factory: pytest.TempPathFactory, keys_s: Keys) -> Rich:
    d = tmp_path_factory.mktemp("rich")
    url = f"sqlite:///{d / 'ledger.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    seqs = populate(Ledger(engine), keys_s)
    result = build_package(engine, SYSTEM, admin_key=keys_s.admin, graph=load_graph(user_dir=None),
                           policy_path=user_policy(d), as_of=AS_OF, now=AS_OF + H)
    engine.dispose()
    return Rich(url, result, unzip(result.data)["audit.pdf"], seqs)
