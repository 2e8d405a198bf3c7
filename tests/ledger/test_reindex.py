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


def test_reindex_reports_progress_and_answers_in_json(ledger: Ledger, keys, run_cli, db_url, monkeypatch) -> None:
    import json

    from ledger import reindex

    monkeypatch.setattr(reindex, "WINDOW", 4)  # several windows of entries
    ledger.append(docs(*(eval_record(suite=f"s{i}") for i in range(9))), signing_key=keys.pipeline)
    size = ledger.head().size
    for run in (rebuild_projections, check_projections):
        seen: list[tuple[int, int]] = []
        run(ledger.engine, progress=lambda done, total: seen.append((done, total)))  # noqa: B023
        assert [d for d, _ in seen] == sorted({*range(4, size, 4), size}) and {t for _, t in seen} == {size}
    r = run_cli("reindex", "--json", db=db_url)
    assert r.exit_code == 0 and json.loads(r.stdout) == {"ok": True, "rebuilt": True, "entries": size}
    with ledger.engine.begin() as c:
        c.execute(sa.text("DELETE FROM entry_signer WHERE seq = 5"))
    r = run_cli("reindex", "--check", "--json", db=db_url)
    assert r.exit_code == 1 and json.loads(r.stdout) == {
        "ok": False, "count": 1, "differences": ["entry_signer (5, 0): missing"]}
    r = run_cli("reindex", "--check", db=db_url)
    assert r.exit_code == 1 and "entry_signer (5, 0): missing" in r.stdout and "1 difference(s)" in r.stderr
    assert run_cli("reindex", db=db_url).exit_code == 0
    r = run_cli("reindex", "--check", db=db_url)
    assert r.exit_code == 0 and "projections match the entries" in r.stdout
