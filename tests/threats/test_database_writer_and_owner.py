"""Someone with database access edits derived tables or the head, or inserts rows, behind the ledger's back.

The documented writer role can only insert (and update the head row: see
tests/reliability/test_pg_writer_role.py); the database owner can do anything.
Either way the gate decides on signed bytes, append judges signers by the key
events themselves, and ``assure verify`` names the first edited row.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from controls import service
from controls.approvals import load_policy
from ledger.errors import InputError, IntegrityError, LedgerStateError
from ledger.store import trust_key
from ledger.verify import verify_ledger
from tests.conftest import (
    append_behind_the_back,
    cut_tail,
    drop_append_only_triggers,
    eval_record,
    fixed_key,
)
from tests.threats.conftest import APPROVER3, SYSTEM, H, Release, iso


def _failing_release(release: Release) -> Release:
    keys = release.keys
    release.put(keys.pipeline, eval_record(observed_at=iso(release.clock), passed=False,
                                           metrics={"demographic_parity_gap": 0.09, "auc": 0.8}))
    release.approve_release(keys.approver, keys.approver2)
    assert not release.gate().passed
    return release


def test_editing_the_projection_does_not_change_the_verdict(release: Release) -> None:
    _failing_release(release)
    with release.ledger.engine.begin() as c:
        c.execute(sa.text("UPDATE record SET passed = :t WHERE kind = 'evaluation'"), {"t": True})
    verdict = release.gate()
    assert not verdict.passed and any("EVAL-FAIR-01" in r and "failing" in r for r in verdict.reasons)
    coverage = service.coverage(release.ledger.engine, SYSTEM, graph=release.graph, policy=load_policy(),
                                as_of=release.clock)
    assert coverage.controls["EVAL-FAIR-01"].status == "failing"
    report = verify_ledger(release.ledger.engine)
    assert not report.ok and "derived data differs from the entries: record" in report.failure.reason
    assert "passed differ" in report.failure.reason


def test_promoting_a_key_in_the_registry_table_gives_it_no_power(release: Release) -> None:
    keys = release.keys
    with release.ledger.engine.begin() as c:
        c.execute(sa.text("UPDATE key_registry SET role = 'admin' WHERE owner = 'ci'"))
    with pytest.raises(InputError, match="has role 'pipeline', which may not sign 'key.trust'"):
        trust_key(release.ledger, keys.pipeline, fixed_key("mallory").public, role="approver", owner="Mallory",
                  now=release.clock)
    report = verify_ledger(release.ledger.engine)
    assert not report.ok and "key_registry" in report.failure.reason and "role differ" in report.failure.reason


def test_a_key_inserted_into_the_registry_table_is_not_trusted(release: Release) -> None:
    mallory = fixed_key("mallory")
    with release.ledger.engine.begin() as c:  # INSERT is all the writer role needs for this
        c.execute(sa.text("INSERT INTO key_registry (key_id, public_key, role, owner, trusted_seq, trusted_at) "
                          "VALUES (:k, :p, 'approver', 'Mallory', 1, :t)"),
                  {"k": mallory.public.key_id, "p": mallory.public.raw, "t": release.clock})
    with pytest.raises(InputError, match="is not trusted in this ledger"):
        release.put(mallory, release.approval(release.model_version))
    assert not verify_ledger(release.ledger.engine).ok


@pytest.mark.parametrize(("claim", "message"), [
    (None, "signed by a key not allowed to sign it"),  # a key the ledger never trusted
    ("approver2", "a signature does not verify"),  # a trusted approver's key id on a forged signature
])
def test_a_forged_approval_written_into_the_tables_is_refused_by_the_gate(release: Release, claim: str | None,
                                                                           message: str) -> None:
    release.approve_release(release.keys.approver)
    claimed = getattr(release.keys, claim).public.key_id if claim else None
    with release.ledger.engine.begin() as conn:  # INSERT and the head row: what the writer role may do
        # A perfectly chained approval, head and projection row and all.
        append_behind_the_back(conn, fixed_key("mallory"), received_at=iso(release.clock), project=True,
                               record=release.approval(release.model_version), claim_key_id=claimed)
    with pytest.raises(IntegrityError, match=message):
        release.gate()


def test_a_rewound_head_is_an_integrity_error_not_a_verdict(release: Release, run_cli, db_url: str) -> None:
    _failing_release(release)
    with release.ledger.engine.begin() as c:
        c.execute(sa.text("UPDATE ledger_head SET size = size - 2"))
    with pytest.raises(IntegrityError, match="the ledger head says .* entries but .* are stored"):
        release.gate()
    with pytest.raises(LedgerStateError, match="head is behind the stored entries"):
        release.put(release.keys.pipeline, eval_record(suite="robustness"))
    r = run_cli("verify", db=db_url)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "stored but the head says" in r.stderr


def test_history_rewritten_under_a_signed_checkpoint_stops_the_gate(release: Release) -> None:
    from ledger.checkpoints import issue_checkpoint

    _failing_release(release)
    issue_checkpoint(release.ledger.engine, release.keys.admin, now=release.clock)
    with release.ledger.engine.begin() as conn:  # the database owner
        drop_append_only_triggers(conn)
        cut_tail(conn, release.ledger.head().size - 3)  # drop the failing run and the approvals...
    release.approve_release(release.keys.approver, APPROVER3)  # ...and approve again
    with pytest.raises(IntegrityError, match="checkpoint covers"):
        release.gate()
    from reports.package import build_package

    with pytest.raises(IntegrityError, match="refusing to sign"):
        build_package(release.ledger.engine, SYSTEM, admin_key=release.keys.admin, graph=release.graph,
                      as_of=release.clock + H, now=release.clock + H)


def test_a_record_hidden_by_editing_its_projection_stops_the_package(release: Release) -> None:
    from reports.package import build_package

    _failing_release(release)
    with release.ledger.engine.begin() as c:  # move the failing run to another system, in the projection only
        c.execute(sa.text("UPDATE record SET system = 'elsewhere' WHERE kind = 'evaluation' AND passed = :f"),
                  {"f": False})
    with pytest.raises(IntegrityError, match="a record was left out"):
        build_package(release.ledger.engine, SYSTEM, admin_key=release.keys.admin, graph=release.graph,
                      as_of=release.clock + H, now=release.clock + H)
