"""Coverage of one system across all frameworks in a large ledger.

Builds (once, cached under $BENCH_DIR, default /tmp/assure-bench) a SQLite ledger
of $BENCH_SYSTEMS systems (default 100) and $BENCH_ENTRIES entries (default
1,000,000) through the real append path (pre-signed envelopes, batches of 10,000):
per system, model versions, evaluation runs of several suites, documents,
approvals and an exception. Then times:

* coverage: ``controls.service.coverage`` for one system, all assessable frameworks;
* ceiling: a plain indexed SQL count of that system's evidence links
  (``record`` ⋈ ``record_control`` on the system), measured in the same run;
* ``assure systems list``'s summaries of every system (``controls.answers.systems``:
  identity, model versions, approvals, each suite's last run), against the SQL that
  finds each system's last run per suite alone.

Targets (issue 6): under 1 s, and no more than 5× the SQL count.
Usage: python -m bench bench_coverage
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from pathlib import Path

from sqlalchemy import text

from controls import answers, service
from controls.approvals import load_policy
from controls.graph import load_graph
from ledger import migrate
from ledger.db import make_engine
from ledger.dsse import sign_envelope
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import Ledger, init_ledger, trust_key

SUITES = ("fairness", "performance", "robustness", "safety", "security", "privacy", "data_quality", "red_team")
DOCS = ("model_card", "data_sheet", "monitoring_plan", "release_checklist")
ADMIN, CI, APPROVER = PrivateKey(b"\x01" * 32), PrivateKey(b"\x02" * 32), PrivateKey(b"\x03" * 32)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _system_records(s: int, per_system: int) -> list[tuple[PrivateKey, dict]]:
    name = f"sys-{s:03d}"
    out: list[tuple[PrivateKey, dict]] = [(ADMIN, {
        "kind": "system", "system": name, "observed_at": _iso(T0), "name": f"System {s}", "owner": "team",
        "purpose": "benchmark", "risk_tier": ("low", "medium", "high")[s % 3],
        "eu_class": ("minimal", "limited", "high_risk_annex_iii")[s % 3], "eu_role": "provider"})]
    i = 0
    while len(out) < per_system:
        version = f"1.{i // 200}"
        when = T0 + dt.timedelta(minutes=i)
        if i % 200 == 0:
            out.append((CI, {"kind": "model_version", "system": name, "observed_at": _iso(when), "version": version,
                             "artifact_sha256": f"{s:04d}{i:060d}"}))
        elif i % 50 == 1:
            out.append((CI, {"kind": "document", "system": name, "observed_at": _iso(when), "doc_type": DOCS[i % 4],
                             "title": f"doc {i}", "model_version": version}))
        else:
            out.append((CI, {"kind": "evaluation", "system": name, "observed_at": _iso(when), "model_version": version,
                             "suite": SUITES[i % len(SUITES)], "metrics": {"score": (i % 97) / 97},
                             "passed": i % 13 != 0, "controls": ["EVAL-FAIR-01"] if i % 8 == 0 else []}))
        i += 1
    return out


def build(path: Path, systems: int, entries: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    init_ledger(engine, ADMIN, now=T0)
    led = Ledger(engine)
    trust_key(led, ADMIN, CI.public, role="pipeline", owner="ci", now=T0)
    trust_key(led, ADMIN, APPROVER.public, role="approver", owner="rai", now=T0)
    per_system = max(10, entries // systems)
    started = time.perf_counter()
    done = 0
    for s in range(systems):
        docs = [Document(f"s{s}[{j}]", sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(r)), key).to_json())
                for j, (key, r) in enumerate(_system_records(s, per_system))]
        for k in range(0, len(docs), 10_000):
            led.append(docs[k : k + 10_000], now=T0 + dt.timedelta(days=30))  # after every observed_at
        done += len(docs)
        if s % 10 == 9:
            print(f"  built {done:,} entries ({done / (time.perf_counter() - started):,.0f}/s)", flush=True)
    engine.dispose()


def cached_ledger() -> tuple[Path, int, int]:
    """The benchmark ledger's file ($BENCH_DIR), built on first use; with its systems and entries."""
    systems = int(os.environ.get("BENCH_SYSTEMS", "100"))
    entries = int(os.environ.get("BENCH_ENTRIES", "1000000"))
    base = Path(os.environ.get("BENCH_DIR", "/tmp/assure-bench"))
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"coverage-{systems}-{entries}.db"
    if not path.exists():
        print(f"building {path} ({entries:,} entries, {systems} systems; cached for later runs)")
        tmp = path.with_suffix(".partial")
        for p in base.glob(tmp.name + "*"):
            p.unlink()
        build(tmp, systems, entries)
        tmp.rename(path)
    return path, systems, entries


def _median(fn, n: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    path, systems, _ = cached_ledger()
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)  # a ledger cached by an older version gains the newer indexes
    graph, policy = load_graph(user_dir=None), load_policy()
    system = f"sys-{systems // 2 + 2:03d}"  # a high-risk one
    as_of = dt.datetime.now(dt.UTC)
    count_sql = text("SELECT count(*) FROM record r JOIN record_control c ON c.seq = r.seq WHERE r.system = :s")
    with engine.connect() as c:
        total = c.execute(text("SELECT count(*) FROM entry")).scalar_one()
        per = c.execute(text("SELECT count(*) FROM record WHERE system = :s"), {"s": system}).scalar_one()
    runs, ceil = [], []
    for _ in range(5):
        t = time.perf_counter()
        with engine.connect() as c:
            c.execute(count_sql, {"s": system}).scalar_one()
        ceil.append(time.perf_counter() - t)
        t = time.perf_counter()
        report = service.coverage(engine, system, graph=graph, policy=policy, as_of=as_of)
        runs.append(time.perf_counter() - t)
    gates = []
    for _ in range(5):
        t = time.perf_counter()
        verdict, _ = service.release_gate(engine, system, model_version=report.model_version or "", graph=graph,
                                          policy=policy, as_of=as_of)
        gates.append(time.perf_counter() - t)
    cov, sql = statistics.median(runs), statistics.median(ceil)
    print(f"ledger: {total:,} entries, {systems} systems; {system}: {per:,} records")
    print("coverage: " + ", ".join(f"{f.framework_id} {f.percent}%" for f in report.frameworks))
    print(f"coverage of one system, all frameworks: {cov * 1000:,.1f} ms (median of 5; target < 1000 ms); "
          f"first call {runs[0] * 1000:,.1f} ms (graph queries not yet memoized)")
    print(f"ceiling, indexed SQL count of its evidence links: {sql * 1000:,.1f} ms; ratio {cov / sql:,.1f}x (target <= 5x)")
    gate = statistics.median(gates)
    print(f"release gate of {report.model_version} (every entry it reads authenticated: signatures, inclusion proofs, "
          f"head against the newest checkpoint): {gate * 1000:,.1f} ms (median of 5; {len(verdict.reasons)} reasons); "
          f"{gate / cov:,.1f}x coverage")
    listed = _median(lambda: answers.systems(engine, policy=policy, as_of=as_of))
    last_runs = text("SELECT system, subtype, max(seq) FROM record WHERE kind = 'evaluation' GROUP BY system, subtype")
    with engine.connect() as c:
        floor = _median(lambda: c.execute(last_runs).all())
    print(f"systems list, {systems} summaries: {listed * 1000:,.0f} ms (median of 3); the SQL of each system's last "
          f"run per suite alone: {floor * 1000:,.0f} ms; ratio {listed / floor:,.1f}x")


if __name__ == "__main__":
    main()
