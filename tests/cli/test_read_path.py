"""``assure log`` and ``assure show`` read through ledger/read_db.py: ``sqlite3`` on a
SQLite file, SQLAlchemy elsewhere. Their ``--json`` must be byte for byte what the
ORM tables give (the read path before), on both backends, and on SQLite they must
not import SQLAlchemy at all (that import was most of their time)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import models as m
from ledger.ingest import read_documents
from ledger.store import Ledger
from tests.conftest import T0, Keys, docs, eval_record

DEMO = Path(__file__).resolve().parents[2] / "demo" / "records"


@pytest.fixture
def filled(ledger: Ledger, keys: Keys) -> Ledger:
    """The test ledger plus the demo's records (systems, pipeline evidence, risk, an exception),
    a failing evaluation and one with a validity window: every column kind log prints."""
    for name, key in (("systems.yaml", keys.admin), ("pipeline.yaml", keys.pipeline), ("risk.yaml", keys.approver),
                      ("exception.yaml", keys.admin)):
        ledger.append(read_documents(str(DEMO / name)), signing_key=key, now=T0)
    ledger.append(docs(eval_record(suite="safety", passed=False, valid_until="2027-01-01T00:00:00.5Z",
                                   thresholds={"auc": {"min": 0.9}}, metrics={"auc": 0.81})),
                  signing_key=keys.pipeline, now=T0 + dt.timedelta(days=2))
    return ledger


def _orm_records(engine: sa.Engine, kind: str | None, system: str | None, limit: int | None) -> list[dict[str, Any]]:
    """The records as the ORM table reads them (the implementation the read path replaced)."""
    stmt = sa.select(m.Record).order_by(m.Record.seq)  # type: ignore[arg-type]
    if kind:
        stmt = stmt.where(m.Record.kind == kind)
    if system:
        stmt = stmt.where(m.Record.system == system)
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as c:
        return [dict(r) for r in c.execute(stmt).mappings()]


def _printed(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"  # cli.output.echo_json


@pytest.mark.parametrize(("kind", "system", "limit"), [
    (None, None, None), ("evaluation", None, None), (None, "credit-scoring", 3), ("exception", "credit-scoring", None),
    ("evaluation", "nobody", None), (None, None, 1),
])
def test_log_json_is_what_the_orm_tables_give(filled, engine, db_url, run_cli, kind, system, limit) -> None:
    args = ["log", "--json"] + (["--kind", kind] if kind else []) + (["--system", system] if system else []) + (
        ["--limit", str(limit)] if limit is not None else [])
    r = run_cli(*args, db=db_url)
    assert r.exit_code == 0, r.output
    expected = _orm_records(engine, kind, system, limit)
    assert r.stdout == _printed(expected)
    assert list(filled.iter_records(kind=kind, system=system, limit=limit)) == expected
    if kind is None and system is None and not limit:  # the columns log must render are all there
        assert any(row["passed"] is False for row in expected) and any(row["valid_until"] for row in expected)
        assert any(row["expires_at"] for row in expected)


def test_show_json_is_the_stored_entry(filled, engine, db_url, run_cli) -> None:
    with engine.connect() as c:
        rows = c.execute(sa.select(m.Entry.seq, m.Entry.entry_hash, m.Entry.prev_hash, m.Entry.leaf,  # type: ignore[call-overload]
                                   m.Payload.payload_type, m.Payload.body)
                         .outerjoin(m.Payload, m.Payload.sha256 == m.Entry.payload_sha256).order_by(m.Entry.seq)).all()
    assert len(rows) > 10
    for row in rows:
        stored = filled.get(row.seq)
        assert (stored.seq, stored.entry_hash, stored.prev_hash, stored.leaf, stored.payload_type,
                stored.payload) == tuple(row)
        assert json.loads(run_cli("show", str(row.seq), "--json", db=db_url).stdout)["record"] == json.loads(row.body)
    last = rows[-1]
    expected = _printed(filled.describe(last.seq))
    for ref in (str(last.seq), last.entry_hash.hex(), last.entry_hash.hex()[:10], last.entry_hash.hex()[:10].upper()):
        r = run_cli("show", ref, "--json", db=db_url)
        assert r.exit_code == 0, r.output
        assert r.stdout == expected
    for ref, why in (("99999", "no entry 99999"), ("00000000ffff", "no entry with hash prefix 00000000ffff"),
                     ("xyz", "neither a sequence number nor an entry hash")):
        r = run_cli("show", ref, db=db_url)
        assert r.exit_code == 2 and why in r.stderr


def test_every_hash_prefix_finds_its_entry_and_a_shared_one_none(filled, engine, db_url, run_cli) -> None:
    """Prefixes are looked up as an index range (not LIKE): every length, every entry, both backends."""
    with engine.connect() as c:
        hashes = [(seq, h.hex()) for seq, h in c.execute(sa.select(m.Entry.seq, m.Entry.entry_hash))]
    for seq, h in hashes:
        for n in (8, 13, 63):
            assert filled.describe(h[:n])["seq"] == seq
    (a, ha), (b, hb) = hashes[3], hashes[4]
    with engine.begin() as c:  # another row made to share the first's 9-character prefix (the table is derived)
        c.execute(sa.text("UPDATE record SET entry_hash = :h WHERE seq = :s"), {"h": ha[:9] + hb[9:], "s": b})
    r = run_cli("show", ha[:9], db=db_url)
    assert r.exit_code == 2 and f"2 entries with hash prefix {ha[:9]}" in r.stderr
    assert json.loads(run_cli("show", ha[:10], "--json", db=db_url).stdout)["seq"] == a


def run_and_list_imports(db_url: str, commands: list[list[str]], heavy: tuple[str, ...]) -> tuple[str, str]:
    """Run ``commands`` in a fresh interpreter; its stdout, and (on stderr) which of ``heavy`` got imported."""
    code = ("import sys; from cli.main import cli\n"
            f"for args in {commands!r}:\n"
            "    try: cli(args, standalone_mode=False)\n"
            "    except SystemExit: pass\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], env={"ASSURE_DB": db_url, "PATH": ""}, capture_output=True,
                       text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    return r.stdout, r.stderr.strip().splitlines()[-1]


def test_log_and_show_on_sqlite_do_not_import_sqlalchemy(ledger, db_url) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL goes through SQLAlchemy")
    out, imported = run_and_list_imports(db_url, [["log", "--json"], ["show", "1", "--json"]],
                                         ("sqlalchemy", "sqlmodel", "pydantic", "networkx"))
    assert json.loads(out.split("\n]\n")[0] + "\n]")[1]["kind"] == "key.trust"
    assert imported == "[]"


def test_a_file_that_is_not_a_database_is_a_clear_exit_2(run_cli, tmp_path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not SQLite" * 100)
    for args in (["log"], ["show", "1"]):
        r = run_cli(*args, db=f"sqlite:///{tmp_path}/junk.db")
        assert r.exit_code == 2
        assert r.stderr.startswith(f"Error: database sqlite:///{tmp_path}/junk.db: file is not a database")
        assert "Traceback" not in r.output


def test_a_sqlite_file_path_is_taken_as_its_url(filled, db_url, run_cli, tmp_path, monkeypatch) -> None:
    if not db_url.startswith("sqlite:///"):
        pytest.skip("a path names a SQLite file")
    path = Path(db_url.removeprefix("sqlite:///"))
    expected = run_cli("log", "--json", db=db_url).stdout
    monkeypatch.chdir(path.parent)
    for given in (str(path), path.name):
        r = run_cli("log", "--json", db=given)
        assert r.exit_code == 0, r.output
        assert r.stdout == expected
    r = run_cli("log", db=str(tmp_path / "absent.db"))
    assert r.exit_code == 2 and f"no ledger at {tmp_path / 'absent.db'}" in r.stderr


# --- coverage, gaps, exceptions, systems, trace: the control queries -----------------------------------------

H = dt.timedelta(hours=1)
AS_OF = "2026-11-10T00:00:00Z"
MIDWAY = "2026-11-03T14:30:00Z"  # between the retraction and the correction, on the day of many appends
#: Every control query, as --json and as text; --as-of pins the output.
QUERIES = [
    ["coverage", "--system", "credit-scoring", "--json"], ["coverage", "--system", "credit-scoring"],
    ["coverage", "--system", "credit-scoring", "--csv"], ["gaps", "--system", "credit-scoring", "--json"],
    ["gaps", "--system", "credit-scoring", "--forecast", "90d", "--horizon", "365d"],
    ["exceptions", "--json"], ["exceptions"], ["exceptions", "--system", "credit-scoring", "--expired"],
    ["systems", "list", "--json"], ["systems", "list"], ["systems", "show", "credit-scoring", "--json"],
    ["systems", "show", "credit-scoring"], ["trace", "--system", "credit-scoring", "--json"],
]


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def enrich(ledger: Ledger, keys: Keys) -> Ledger:
    """:func:`filled`'s records plus a system-scoped key, a rotated approver key (the old one
    revoked), a retraction, a correction, a pending reclassification and approvals."""
    from ledger.store import revoke_key, trust_key
    from tests.conftest import fixed_key, system_record

    for name, key in (("systems.yaml", keys.admin), ("pipeline.yaml", keys.pipeline), ("risk.yaml", keys.approver),
                      ("exception.yaml", keys.admin)):
        ledger.append(read_documents(str(DEMO / name)), signing_key=key, now=T0)
    t = T0 + dt.timedelta(days=2)
    failing = ledger.append(docs(eval_record(suite="safety", passed=False, observed_at=_iso(t))),
                            signing_key=keys.pipeline, now=t)[0]
    scoped = fixed_key("scoped-ci")
    trust_key(ledger, keys.admin, scoped.public, role="pipeline", owner="ci credit", systems=["credit-scoring"],
              now=t + H)
    ledger.append(docs(eval_record(suite="robustness", observed_at=_iso(t + H))), signing_key=scoped, now=t + 2 * H)
    rotated = fixed_key("rai-lead-2027")
    trust_key(ledger, keys.admin, rotated.public, role="approver", owner="RAI lead", now=t + 3 * H)
    revoke_key(ledger, keys.admin, keys.approver.public.key_id, reason="rotated", now=t + 4 * H)
    ledger.append(docs({"kind": "retract", "system": "credit-scoring", "observed_at": _iso(t + 5 * H),
                        "target": failing.entry_hash, "reason": "wrong dataset"}), signing_key=keys.pipeline,
                  now=t + 5 * H)
    fair = ledger.append(docs(eval_record(suite="fairness", observed_at=_iso(t + 6 * H))), signing_key=keys.pipeline,
                         now=t + 6 * H)[0]
    ledger.append(docs(eval_record(suite="fairness", observed_at=_iso(t + 6 * H), supersedes=fair.entry_hash)),
                  signing_key=keys.pipeline, now=t + 7 * H)
    ledger.append(docs(system_record(risk_tier="medium", observed_at=_iso(t + 8 * H))), signing_key=keys.admin,
                  now=t + 8 * H)
    (exc,) = [r for r in ledger.iter_records(kind="exception")]
    ledger.append(docs({"kind": "approval", "system": exc["system"], "observed_at": _iso(t + 9 * H),
                        "target": exc["entry_hash"], "decision": "approve"}), signing_key=rotated, now=t + 9 * H)
    return ledger


@pytest.fixture
def rich(ledger: Ledger, keys: Keys) -> Ledger:
    return enrich(ledger, keys)


def _through_sqlalchemy(db_url: str) -> str:
    """The same database by a URL that the CLI reads through SQLAlchemy (the path before)."""
    return db_url.replace("sqlite:///", "sqlite+pysqlite:///", 1)


def _query(run_cli: Any, args: list[str], db: str, as_of: str = AS_OF) -> Any:
    r = run_cli(*args, "--as-of", as_of, db=db)
    assert "Traceback" not in r.output
    return r


@pytest.mark.parametrize("args", QUERIES, ids=" ".join)
def test_control_queries_print_what_the_sqlalchemy_path_prints(rich, db_url, run_cli, args) -> None:
    for as_of in (AS_OF, MIDWAY):
        fast = _query(run_cli, args, db_url, as_of)
        slow = _query(run_cli, args, _through_sqlalchemy(db_url), as_of)
        assert (fast.exit_code, fast.stdout, fast.stderr) == (slow.exit_code, slow.stdout, slow.stderr)
        assert fast.stdout.strip()


def test_the_rich_ledger_has_what_the_comparison_needs(rich, db_url, run_cli) -> None:
    def data(*args: str) -> Any:
        return json.loads(_query(run_cli, [*args, "--json"], db_url).stdout)

    trace = data("trace", "--system", "credit-scoring")
    assert {w["action"] for w in trace["withdrawals"]} >= {"retract", "supersede"}, trace["withdrawals"]
    assert trace["reclassifications"] and trace["reclassifications"][0]["state"] != "effective"
    assert [x["state"] for x in data("exceptions")]


def test_postgresql_answers_as_a_sqlite_file_does(rich, db_url, run_cli, keys, tmp_path, request) -> None:
    """The same entries on PostgreSQL (SQLAlchemy) and in a SQLite file (sqlite3): the same output."""
    if db_url.startswith("sqlite"):
        pytest.skip("compares PostgreSQL with SQLite")
    from ledger.db import make_engine
    from tests.conftest import seed_ledger

    path = tmp_path / "same.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), path)
    enrich(seed_ledger(make_engine(f"sqlite:///{path}"), keys), keys)
    for args in QUERIES:
        for as_of in (AS_OF, MIDWAY):
            pg, lite = _query(run_cli, args, db_url, as_of), _query(run_cli, args, f"sqlite:///{path}", as_of)
            assert (pg.exit_code, pg.stdout) == (lite.exit_code, lite.stdout), args


def test_control_queries_on_sqlite_do_not_import_sqlalchemy(rich, db_url) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL goes through SQLAlchemy")
    out, imported = run_and_list_imports(db_url, [[*a, "--as-of", AS_OF] for a in QUERIES],
                                         ("sqlalchemy", "sqlmodel", "networkx", "alembic"))
    assert '"credit-scoring"' in out
    assert imported == "[]"


def test_a_datetime_parameter_compares_as_the_orm_compares_it(rich, engine, db_url) -> None:
    """``received_at <= :as_of`` (every query's cut-off) through the Reader, on either driver,
    selects what the ORM's typed comparison selects, at and around every receive time."""
    from ledger.read_db import SqliteFile, transaction

    with engine.connect() as c:
        times = sorted(set(c.execute(sa.select(m.Record.received_at)).scalars()))  # type: ignore[call-overload]
    cuts = [t + d for t in times for d in (-dt.timedelta(microseconds=1), dt.timedelta(0), dt.timedelta(seconds=1))]
    cuts += [t.astimezone(dt.timezone(dt.timedelta(hours=2))) for t in times]  # another zone, the same instant
    path = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None
    with transaction(SqliteFile(path) if path else engine) as reader:
        for cut in cuts:
            with engine.connect() as c:
                expected = list(c.execute(sa.select(m.Record.seq).where(m.Record.received_at <= cut)  # type: ignore[call-overload]
                                          .order_by(m.Record.seq)).scalars())
            assert [s for (s,) in reader.rows("SELECT seq FROM record WHERE received_at <= :as_of ORDER BY seq",
                                              {"as_of": cut})] == expected, cut
    assert len(times) > 5
