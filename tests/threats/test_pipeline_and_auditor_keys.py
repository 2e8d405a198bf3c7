"""A pipeline key (or an auditor key) tries to get a blocked release through or hide evidence."""

from __future__ import annotations

import pytest

from ledger.append import ClockError
from ledger.errors import InputError
from ledger.store import trust_key
from ledger.verify import verify_ledger
from tests.conftest import (
    docs,
    eval_record,
    fixed_key,
    model_version_record,
    system_record,
    table_bytes,
)
from tests.threats.conftest import SYSTEM, H, Release, iso


def test_pipeline_cannot_retract_a_rejection_even_organisation_wide(release: Release) -> None:
    keys = release.keys
    release.approve_release(keys.approver2, fixed_key("approver3"))
    (rejection,) = release.put(keys.approver, release.approval(release.model_version, "reject"))
    assert not release.gate().passed
    before = table_bytes(release.ledger.engine)
    for system in ("*", SYSTEM):
        retract = release.record("retract", system=system, target=rejection.entry_hash, reason="flaky reviewer")
        with pytest.raises(InputError) as refused:
            release.put(keys.pipeline, retract)
        assert refused.value.field == "target"
    assert "organisation-wide ('*') cannot retract" in _attempt(release, "*", rejection)
    assert "only the submitter of entry" in _attempt(release, SYSTEM, rejection)
    assert table_bytes(release.ledger.engine) == before
    verdict = release.gate()
    assert not verdict.passed and any("release approval rejected" in r for r in verdict.reasons)


def _attempt(release: Release, system: str, target) -> str:  # type: ignore[no-untyped-def]
    try:
        release.put(release.keys.pipeline, release.record("retract", system=system, target=target.entry_hash,
                                                          reason="flaky reviewer"))
    except InputError as e:
        return str(e)
    raise AssertionError("the retraction was accepted")


def test_auditor_cannot_supersede_a_rejection_with_a_document(release: Release) -> None:
    keys = release.keys
    (rejection,) = release.put(keys.approver, release.approval(release.model_version, "reject"))
    doc = release.record("document", doc_type="other", title="Reviewer overruled", supersedes=rejection.entry_hash)
    with pytest.raises(InputError, match="a correction must be of the same kind") as refused:
        release.put(keys.auditor, doc)
    assert refused.value.field == "supersedes"


def test_failing_evaluation_cannot_be_hidden_by_a_future_dated_pass(release: Release) -> None:
    keys = release.keys
    release.put(keys.pipeline, eval_record(observed_at=iso(release.clock), passed=False,
                                           metrics={"demographic_parity_gap": 0.09, "auc": 0.8}))
    with pytest.raises(InputError, match="observed_at 2099-01-01T00:00:00Z is in the future") as refused:
        release.put(keys.pipeline, eval_record(observed_at="2099-01-01T00:00:00Z"))
    assert refused.value.field == "observed_at"
    release.approve_release(keys.approver, keys.approver2)
    verdict = release.gate()
    assert not verdict.passed and any("EVAL-FAIR-01" in r and "failing" in r for r in verdict.reasons)


def test_passed_true_against_its_own_thresholds_is_refused_naming_the_metric(release: Release) -> None:
    lying = eval_record(metrics={"demographic_parity_gap": 0.09, "auc": 0.8}, passed=True)
    with pytest.raises(InputError, match="metric 'demographic_parity_gap' 0.09 is above its maximum 0.05") as e:
        release.put(release.keys.pipeline, lying)
    assert e.value.field == "passed"


@pytest.mark.parametrize("kind_record", [
    eval_record(system="*"),
    model_version_record(system="*"),
    {"kind": "incident", "system": "*", "observed_at": "2026-11-01T10:00:00Z", "title": "t", "severity": "low",
     "status": "open"},
])
def test_system_bound_evidence_cannot_be_organisation_wide(release: Release, kind_record: dict) -> None:
    with pytest.raises(InputError, match="'\\*' \\(organisation-wide\\) is not allowed") as e:
        release.put(release.keys.pipeline, kind_record)
    assert e.value.field == "system"


def test_organisation_wide_document_counts_only_for_organisation_level_controls(release: Release) -> None:
    keys = release.keys
    release.put(keys.admin, {"kind": "document", "system": "*", "observed_at": iso(release.clock), "doc_type": "policy",
                             "title": "AI policy", "controls": ["GOV-01", "EVAL-INDEP-01"]})
    report = _coverage(release)
    assert report.controls["GOV-01"].status == "covered"  # organisation-level: '*' counts
    # An approval is the kind EVAL-INDEP-01 wants; an org-wide one may not stand in for the system's own.
    (policy,) = [e for e in release.view().of_kind("document") if e.system == "*"]
    release.put(keys.approver, {"kind": "approval", "system": "*", "observed_at": iso(release.clock),
                                "target": policy.entry_hash, "decision": "approve", "controls": ["EVAL-INDEP-01"]})
    assert _coverage(release).controls["EVAL-INDEP-01"].status == "missing"


def _coverage(release: Release):  # type: ignore[no-untyped-def]
    from controls import service
    from controls.approvals import load_policy

    return service.coverage(release.ledger.engine, SYSTEM, graph=release.graph, policy=load_policy(),
                            as_of=release.clock)


def test_evidence_for_an_unregistered_model_version_is_refused(release: Release) -> None:
    with pytest.raises(InputError, match="model version '9.9' is not registered for 'credit-scoring'"):
        release.put(release.keys.pipeline, eval_record(model_version="9.9"))
    # ...but a version registered earlier in the same batch counts.
    release.put(release.keys.pipeline, model_version_record(version="9.9"), eval_record(model_version="9.9"))


def test_a_scoped_pipeline_key_signs_only_for_its_systems(release: Release) -> None:
    keys = release.keys
    ci_fraud = fixed_key("ci-fraud")
    release.put(keys.admin, system_record("fraud", name="Fraud"), model_version_record("fraud"))
    trust_key(release.ledger, keys.admin, ci_fraud.public, role="pipeline", owner="ci: fraud", systems=["fraud"],
              now=release.clock)
    release.put(ci_fraud, eval_record(system="fraud"))
    with pytest.raises(InputError, match="is scoped to fraud and may not sign system 'credit-scoring'") as e:
        release.put(ci_fraud, eval_record(suite="robustness"))
    assert e.value.field == "signatures[0]"
    with pytest.raises(InputError, match="scoped to fraud"):
        release.put(ci_fraud, {"kind": "document", "system": "*", "observed_at": iso(release.clock),
                               "doc_type": "policy", "title": "AI policy"})
    assert verify_ledger(release.ledger.engine).ok


def test_clock_set_back_cannot_slip_a_record_under_an_expired_key(release: Release) -> None:
    keys = release.keys
    short = fixed_key("temp-approver")
    trust_key(release.ledger, keys.admin, short.public, role="approver", owner="Contractor",
              valid_until=iso(release.clock + 2 * H), now=release.clock)
    expired = release.clock + 5 * H
    release.put(keys.pipeline, eval_record(suite="robustness", observed_at=iso(expired)), at=expired)
    with pytest.raises(InputError, match="expired at"):
        release.put(short, release.approval(release.model_version), at=expired + H)
    # With the clock set back to when the key was still valid, the append is refused all the same.
    set_back = expired - 4 * H
    backdated = release.approval(release.model_version) | {"observed_at": iso(set_back)}
    with pytest.raises(ClockError, match=r"this clock \(.*\) is behind the ledger's last entry"):
        release.put(short, backdated, at=set_back)


def test_a_key_cannot_be_trusted_with_a_validity_already_over(release: Release) -> None:
    with pytest.raises(InputError, match="valid_until .* has already passed") as e:
        trust_key(release.ledger, release.keys.admin, fixed_key("late").public, role="pipeline", owner="late",
                  valid_until="2026-01-01T00:00:00Z", now=release.clock)
    assert e.value.field == "valid_until"


def test_the_same_rules_hold_for_a_batch_of_envelopes(release: Release) -> None:
    """Rules are checked per record in a batch: one bad record refuses the whole batch."""
    before = table_bytes(release.ledger.engine)
    with pytest.raises(InputError, match=r"test\[1\]: field 'observed_at'"):
        release.ledger.append(docs(eval_record(suite="robustness"), eval_record(observed_at="2099-01-01T00:00:00Z")),
                              signing_key=release.keys.pipeline, now=release.clock)
    assert table_bytes(release.ledger.engine) == before


def test_withdrawing_its_own_failing_run_needs_approval_and_shows_in_coverage_and_trace(release: Release) -> None:
    from controls.approvals import load_policy
    from controls.trace import trace
    from tests.threats.conftest import APPROVER3

    keys = release.keys
    (failed,) = release.put(keys.pipeline, eval_record(observed_at=iso(release.clock), passed=False,
                                                       metrics={"demographic_parity_gap": 0.09, "auc": 0.8}))
    (retract,) = release.put(keys.pipeline, release.record("retract", target=failed.entry_hash,
                                                           reason="flaky test environment"))
    control = _coverage(release).controls["EVAL-FAIR-01"]
    assert control.status == "failing"
    assert f"withdrawal of entry {failed.seq} by entry {retract.seq} is pending" in control.reason
    chain = trace(release.view(), policy=load_policy())
    assert [(w["state"], w["target"]["seq"], w["why"]) for w in chain["withdrawals"]] == [
        ("pending", failed.seq, "flaky test environment")]
    for key in (keys.approver, APPROVER3):
        release.put(key, release.approval(retract))
    control = _coverage(release).controls["EVAL-FAIR-01"]
    assert control.status == "covered"  # the earlier passing run decides again...
    assert f"entry {failed.seq} was retracted by entry {retract.seq} (flaky test environment)" in control.reason
