"""Projections are derived data: reindex rebuilds them exactly and --check finds edits."""

from __future__ import annotations

import sqlalchemy as sa

from ledger.reindex import check_projections, rebuild_projections
from ledger.store import Ledger, revoke_key
from tests.conftest import docs, eval_record, table_bytes


def test_rebuild_gives_the_same_tables_and_check_finds_edits(ledger: Ledger, keys) -> None:
    ledger.append(docs(eval_record(controls=["EVAL-FAIR-01"]), eval_record(suite="robustness", passed=False)),
                  signing_key=keys.pipeline)
    revoke_key(ledger, keys.admin, keys.auditor.public.key_id, reason="left the company")
    before = table_bytes(ledger.engine)
    assert check_projections(ledger.engine) == []
    rebuild_projections(ledger.engine)
    assert table_bytes(ledger.engine) == before
    with ledger.engine.begin() as c:
        c.execute(sa.text("UPDATE record SET passed = :t WHERE kind = 'evaluation' AND subtype = 'robustness'"),
                  {"t": True})
        c.execute(sa.text("DELETE FROM record_control"))
        c.execute(sa.text("UPDATE key_registry SET role = 'admin' WHERE owner = 'ci'"))
    problems = check_projections(ledger.engine)
    assert any("passed differ" in p for p in problems)
    assert any(p.startswith("record_control") and p.endswith("missing") for p in problems)
    assert any(p.startswith("key_registry") and "role" in p for p in problems)
    rebuild_projections(ledger.engine)
    assert check_projections(ledger.engine) == []
    assert table_bytes(ledger.engine) == before
