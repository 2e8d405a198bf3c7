"""Every rule append enforces, re-checked by ``assure verify`` on entries written behind its back.

For each rule: append refuses the record with a clear message, and the same
record, signed by a trusted key and perfectly chained into the tables by someone
with database access, makes verify fail at its seq naming the rule.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from ledger.errors import InputError
from ledger.ingest import Document
from ledger.verify import verify_ledger
from tests.conftest import (
    append_behind_the_back,
    drop_append_only_triggers,
    eval_record,
    system_record,
)
from tests.threats.conftest import Release, iso

Case = Callable[[Release], tuple[Any, dict[str, Any], str, str]]
"""release -> (signer (a key, or its name in the fixture's keys), record, what append says, what verify says)."""


def _future(rel: Release):  # type: ignore[no-untyped-def]
    return "pipeline", eval_record(observed_at="2099-01-01T00:00:00Z"), "is in the future", "is in the future"


def _lying_pass(rel: Release):  # type: ignore[no-untyped-def]
    rec = eval_record(metrics={"demographic_parity_gap": 0.09, "auc": 0.8}, passed=True)
    return "pipeline", rec, "passed is true but metric", "passed is true but metric"


def _org_wide_evaluation(rel: Release):  # type: ignore[no-untyped-def]
    return "pipeline", eval_record(system="*"), "is not allowed for evaluation", "is not allowed for evaluation"


def _unregistered_version(rel: Release):  # type: ignore[no-untyped-def]
    return "pipeline", eval_record(model_version="9.9"), "model version '9.9' is not registered", \
        "model version '9.9' of 'credit-scoring' is not registered before this entry"


def _unregistered_system(rel: Release):  # type: ignore[no-untyped-def]
    return "pipeline", eval_record(system="ghost"), "system 'ghost' is not registered", \
        "system 'ghost' is not registered before this entry"


def _retract_someone_elses(rel: Release):  # type: ignore[no-untyped-def]
    (rejection,) = rel.put(rel.keys.approver, rel.approval(rel.model_version, "reject"))
    rec = rel.record("retract", target=rejection.entry_hash, reason="no")
    return "pipeline", rec, "only the submitter of entry", "only the submitter of entry"


def _retract_from_org_wide(rel: Release):  # type: ignore[no-untyped-def]
    (rejection,) = rel.put(rel.keys.approver, rel.approval(rel.model_version, "reject"))
    rec = rel.record("retract", system="*", target=rejection.entry_hash, reason="no")
    return "admin", rec, "organisation-wide ('*') cannot retract", "organisation-wide ('*') cannot retract"


def _supersede_other_kind(rel: Release):  # type: ignore[no-untyped-def]
    (rejection,) = rel.put(rel.keys.approver, rel.approval(rel.model_version, "reject"))
    rec = rel.record("document", doc_type="other", title="t", supersedes=rejection.entry_hash)
    return "admin", rec, "must be of the same kind", "must be of the same kind"


def _approval_across_systems(rel: Release):  # type: ignore[no-untyped-def]
    rel.put(rel.keys.admin, system_record("fraud", name="Fraud"))
    rec = rel.record("approval", system="fraud", target=rel.model_version.entry_hash, decision="approve")
    return "approver", rec, "belongs to another system", "belongs to another system"


def _exception_expired_at_birth(rel: Release):  # type: ignore[no-untyped-def]
    rec = rel.record("exception", controls=["EVAL-FAIR-01"], rationale="r", compensating_controls=["GOV-01"],
                     owner="o", expires_at=iso(rel.clock - dt.timedelta(days=1)), remediation="x")
    return "admin", rec, "expires_at must be after observed_at", "expires_at must be after observed_at"


def _scoped_key_elsewhere(rel: Release):  # type: ignore[no-untyped-def]
    from ledger.store import trust_key
    from tests.conftest import fixed_key

    ci_fraud = fixed_key("ci-fraud")
    trust_key(rel.ledger, rel.keys.admin, ci_fraud.public, role="pipeline", owner="ci: fraud", systems=["fraud"],
              now=rel.clock)
    return ci_fraud, eval_record(suite="robustness"), "is scoped to fraud", "is scoped to fraud"


CASES = [_scoped_key_elsewhere, _future, _lying_pass, _org_wide_evaluation, _unregistered_version, _unregistered_system,
         _retract_someone_elses, _retract_from_org_wide, _supersede_other_kind, _approval_across_systems,
         _exception_expired_at_birth]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_append_refuses_and_verify_catches(release: Release, case: Case) -> None:
    signer, record, append_says, verify_says = case(release)
    key = getattr(release.keys, signer) if isinstance(signer, str) else signer
    release.clock += dt.timedelta(hours=1)
    with pytest.raises(InputError, match=re.escape(append_says)):
        release.ledger.append([Document("attack.json", record)], signing_key=key, now=release.clock)
    with release.ledger.engine.begin() as conn:
        drop_append_only_triggers(conn)
        seq = append_behind_the_back(conn, key, record=record, received_at=iso(release.clock))
    report = verify_ledger(release.ledger.engine, derived=False)
    assert report.failure is not None and report.failure.seq == seq, report.failure
    assert verify_says in report.failure.reason


def test_verify_catches_receive_times_going_backwards(release: Release) -> None:
    with release.ledger.engine.begin() as conn:
        drop_append_only_triggers(conn)
        seq = append_behind_the_back(conn, release.keys.pipeline, suite="robustness",
                                     received_at=iso(release.clock - dt.timedelta(days=1)))
    report = verify_ledger(release.ledger.engine, derived=False)
    assert report.failure is not None and report.failure.seq == seq
    assert "the ledger's clock went backwards" in report.failure.reason


def test_verify_catches_a_key_trusted_past_its_validity(release: Release) -> None:
    from tests.conftest import fixed_key

    late = fixed_key("late")
    trust = {"kind": "key.trust", "observed_at": iso(release.clock), "public_key": late.public.to_b64(),
             "role": "pipeline", "owner": "late", "valid_until": "2026-01-01T00:00:00Z"}
    with release.ledger.engine.begin() as conn:
        drop_append_only_triggers(conn)
        seq = append_behind_the_back(conn, release.keys.admin, record=trust, received_at=iso(release.clock))
    report = verify_ledger(release.ledger.engine, derived=False)
    assert report.failure is not None and report.failure.seq == seq
    assert "has already passed" in report.failure.reason
