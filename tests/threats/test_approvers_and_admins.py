"""An approver (or an admin) tries to decide alone what the policy says needs others."""

from __future__ import annotations

import datetime as dt

import pytest

from controls.approvals import load_policy
from ledger.dsse import Envelope, Signature, pae
from ledger.errors import InputError
from ledger.ingest import Document
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import trust_key
from tests.conftest import fixed_key, model_version_record, system_record
from tests.threats.conftest import APPROVER3, SYSTEM, Release, iso


def test_one_approver_cannot_downgrade_a_high_risk_system(release: Release) -> None:
    keys = release.keys
    downgrade = system_record(risk_tier="low", eu_class="minimal", observed_at=iso(release.clock))
    (re_registration,) = release.put(keys.approver, downgrade)
    release.put(keys.approver, release.approval(re_registration))  # approving their own change: not counted
    view = release.view()
    assert (view.risk_tier, view.eu_class) == ("high", "high_risk_annex_iii")
    (pending,) = view.pending_reclassifications
    assert pending.downgrade and pending.state == "pending"
    assert "risk_tier high → low" in pending.describe() and "0/2 approver(s)" in pending.describe()
    from controls import service

    report = service.coverage(release.ledger.engine, SYSTEM, graph=release.graph, policy=load_policy(),
                              as_of=release.clock).to_json(details=False)
    assert report["risk_tier"] == "high" and report["pending_reclassifications"][0]["downgrade"] is True
    # One release approval is not enough while the system stays high-risk, and the gate says why.
    release.approve_release(keys.approver2)
    verdict = release.gate()
    assert not verdict.passed and any("1/2" in r for r in verdict.reasons)
    assert any("reclassification" in n and "pending" in n for n in verdict.notes)
    # Two approvers other than its submitter make it take effect.
    release.put(keys.approver2, release.approval(re_registration))
    release.put(APPROVER3, release.approval(re_registration))
    view = release.view()
    assert (view.risk_tier, view.eu_class) == ("low", "minimal") and not view.pending_reclassifications


def test_a_change_of_owner_or_name_applies_at_once(release: Release) -> None:
    release.put(release.keys.admin, system_record(owner="New owner", observed_at=iso(release.clock)))
    view = release.view()
    assert view.owner == "New owner" and not view.reclassifications


def _co_signed(record: dict, *keys) -> Document:  # type: ignore[no-untyped-def]
    payload = record_bytes(parse_record(record))
    sigs = tuple(Signature(k.public.key_id, k.sign(pae(PAYLOAD_TYPE, payload))) for k in keys)
    return Document("co-signed.json", Envelope(PAYLOAD_TYPE, payload, sigs).to_json())


def test_an_approver_who_co_signed_the_target_does_not_count(release: Release) -> None:
    keys = release.keys
    mv = model_version_record(version="2.2.0", observed_at=iso(release.clock))
    (target,) = release.ledger.append([_co_signed(mv, keys.pipeline, keys.approver)], now=release.clock)
    release.put(keys.approver, release.approval(target.entry_hash))
    release.put(keys.approver2, release.approval(target.entry_hash))
    view = release.view()
    decision = view.decide(view.by_hash[target.entry_hash], policy=load_policy())
    assert decision.status == "pending" and decision.approver_owners == ["Head of Risk"]
    (ignored, why), = decision.ignored
    assert why == "signed by RAI lead, who also signed the target (separation of duties)"


def test_a_rotated_key_of_the_same_owner_is_still_the_submitter(release: Release) -> None:
    keys = release.keys
    rotated = fixed_key("rai-lead-2027")
    trust_key(release.ledger, keys.admin, rotated.public, role="approver", owner="RAI lead", now=release.clock)
    exception = release.record("exception", controls=["EVAL-FAIR-01"], rationale="bias work in progress",
                               compensating_controls=["OPS-INCIDENT-01"], owner="Head of Risk",
                               expires_at=iso(release.clock + dt.timedelta(days=30)), remediation="retrain")
    (exc,) = release.put(keys.approver, exception)
    release.put(rotated, release.approval(exc))
    release.put(keys.approver2, release.approval(exc))
    view = release.view()
    decision = view.decide(view.by_hash[exc.entry_hash], policy=load_policy())
    assert decision.status == "pending"
    assert "signed by RAI lead, who also signed the target" in decision.ignored[0][1]


def test_withdrawing_a_rejection_needs_approval_and_stays_visible(release: Release) -> None:
    keys = release.keys
    (rejection,) = release.put(keys.approver, release.approval(release.model_version, "reject"))
    release.approve_release(keys.approver2, APPROVER3)
    (retract,) = release.put(keys.admin, release.record("retract", target=rejection.entry_hash,
                                                          reason="reviewer on leave"))
    verdict = release.gate()
    assert not verdict.passed and any("release approval rejected" in r for r in verdict.reasons)
    assert any("retract of entry" in n and "pending" in n for n in verdict.notes)
    release.put(keys.approver2, release.approval(retract))
    release.put(APPROVER3, release.approval(retract))
    assert release.gate().passed
    view = release.view()
    (withdrawal,) = view.corrections
    assert (withdrawal.state, withdrawal.target.seq, withdrawal.record.fields["reason"]) == (
        "effective", rejection.seq, "reviewer on leave")
    assert rejection.entry_hash in view.by_hash and rejection.entry_hash in view.retracted


def test_an_admin_cannot_withdraw_across_systems(release: Release) -> None:
    keys = release.keys
    (rejection,) = release.put(keys.approver, release.approval(release.model_version, "reject"))
    release.put(keys.admin, system_record("fraud", name="Fraud"))
    with pytest.raises(InputError, match="only records of the target's own system can"):
        release.put(keys.admin, release.record("retract", system="fraud", target=rejection.entry_hash,
                                               reason="wrong system"))


@pytest.mark.parametrize(("days", "compensating", "message"), [
    (400, ["OPS-INCIDENT-01"], "runs 400 days; exceptions for high-tier systems may run at most 180 days"),
    (30, [], "an exception for a high-tier system must name compensating controls"),
])
def test_exceptions_beyond_the_policy_are_refused(release: Release, days: int, compensating: list,
                                                  message: str) -> None:
    exception = release.record("exception", controls=["EVAL-FAIR-01"], rationale="accept for now",
                               compensating_controls=compensating, owner="Head of Risk",
                               expires_at=iso(release.clock + dt.timedelta(days=days)), remediation="retrain")
    with pytest.raises(InputError, match=message):
        release.put(release.keys.admin, exception)


def test_an_open_critical_incident_blocks_its_release_until_an_exception_covers_it(release: Release) -> None:
    keys = release.keys
    release.approve_release(keys.approver, keys.approver2)
    assert release.gate().passed
    release.put(keys.pipeline, release.record("incident", title="Denials spike for one group", severity="critical",
                                              status="open", model_version="2.1.0"))
    verdict = release.gate()
    assert not verdict.passed
    assert any("open critical incident against 2.1.0" in r and "OPS-INCIDENT-01" in r for r in verdict.reasons)
    exception = release.record("exception", controls=["OPS-INCIDENT-01"], rationale="rollback plan in place",
                               compensating_controls=["EVAL-FAIR-01"], owner="Head of Risk",
                               expires_at=iso(release.clock + dt.timedelta(days=7)), remediation="hotfix")
    (exc,) = release.put(keys.admin, exception)
    release.put(keys.approver, release.approval(exc))
    assert not release.gate().passed  # one approver of two
    release.put(keys.approver2, release.approval(exc))
    assert release.gate().passed


def test_withdrawing_an_open_incident_needs_approval(release: Release) -> None:
    keys = release.keys
    release.approve_release(keys.approver, keys.approver2)
    (incident,) = release.put(keys.pipeline, release.record("incident", title="Outage", severity="high",
                                                            status="open", model_version="2.1.0"))
    release.put(keys.pipeline, release.record("retract", target=incident.entry_hash, reason="duplicate"))
    assert not release.gate().passed
    assert [c.state for c in release.view().corrections] == ["pending"]
    assert SYSTEM == release.view().system
