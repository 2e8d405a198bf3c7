"""Server time of each web page over a large ledger, next to the library call behind it.

Reuses bench_coverage's ledger ($BENCH_SYSTEMS systems, default 100; $BENCH_ENTRIES
entries, default 1,000,000; cached under $BENCH_DIR), copied once to a ``web-`` file
so the API token this benchmark adds never touches the shared one. Each page is
requested in process through the real application (``server.app.create_app``, the
ASGI stack without a socket) with an auditor token: the first request, then the median
of $BENCH_RUNS (default 3); the floor is the library call the page is built on (the one
the CLI's ``--json`` makes), timed in the same run.

Target (issue 15): every page under 300 ms of server time.
Usage: python -m bench bench_web
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import bench_coverage


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    return statistics.median(_timed(fn) for _ in range(runs)) * 1000


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    from starlette.testclient import TestClient

    from controls import answers, service
    from ledger import migrate
    from ledger.api_tokens import create_token
    from ledger.db import make_engine
    from ledger.store import Ledger
    from server.app import create_app
    from server.settings import Settings

    runs = int(os.environ.get("BENCH_RUNS", "3"))
    shared, systems, entries = bench_coverage.cached_ledger()
    base = shared.parent
    path = base / f"web-{systems}-{entries}.db"
    if not path.exists():
        shutil.copy(shared, path.with_suffix(".partial"))
        path.with_suffix(".partial").rename(path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    token = create_token(engine, role="auditor", name="bench_web")[0]
    app = create_app(Settings(db_url=url, frameworks_dir=str(base / "no-user-frameworks")))
    st = app.state.assure
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    client.__enter__()  # runs the application's start-up (State.warm), as 'assure serve' does
    ready = time.perf_counter()
    for thread in threading.enumerate():  # the KPI samples computed in the background after start-up
        if thread.name == "assure-warm-kpis":
            thread.join()
    print(f"start-up {(ready - started) * 1000:,.0f} ms (graph, policy, every system's view); KPI samples "
          f"in the background {(time.perf_counter() - ready) * 1000:,.0f} ms more, awaited before the pages")
    system = f"sys-{systems // 2 + 2:03d}"
    now = dt.datetime.now(dt.UTC)
    seq = Ledger(engine).head().size // 2
    led = Ledger(engine)
    graph, policy = st.graph, st.policy
    cov = service.coverage(engine, system, graph=graph, policy=policy, as_of=now).to_json(details=True)
    req = next(r["requirement"] for f in cov["frameworks"] for r in f["requirements"] if r["evidence"])
    ctl = next(c["control"] for c in cov["controls"] if c["evidence"])

    def coverage() -> Any:
        return service.coverage(engine, system, graph=graph, policy=policy, as_of=dt.datetime.now(dt.UTC))

    def kpis() -> Any:
        return service.kpis(engine, graph=graph, policy=policy, frameworks=None, as_of=dt.datetime.now(dt.UTC),
                            expiring_window=dt.timedelta(days=30))

    pages: list[tuple[str, str, str, Callable[[], Any]]] = [
        ("systems", "/web/", "service.kpis afresh (the page keeps the views between requests)", kpis),
        ("system", f"/web/systems/{system}", "answers.trace (the system's full view)",
         lambda: answers.trace(engine, system, policy=policy, as_of=dt.datetime.now(dt.UTC))),
        ("requirement", f"/web/systems/{system}/requirement?id={req}", "service.coverage of the system", coverage),
        ("control", f"/web/systems/{system}/control?id={ctl}", "service.coverage of the system", coverage),
        ("entry", f"/web/entries/{seq}", "Ledger.describe", lambda: led.describe(seq)),
        ("exceptions", "/web/exceptions", "answers.exceptions",
         lambda: answers.exceptions(engine, policy=policy, as_of=dt.datetime.now(dt.UTC))),
        ("kpis", "/web/kpis", "service.kpis (one as-of; the page samples six)", kpis),
        ("ledger", "/web/ledger", "Ledger.head + registry", lambda: (led.head(), led.registry())),
        ("packages", "/web/packages", "Ledger.head", led.head),
        ("calendar", "/web/calendar.ics", "answers.exceptions",
         lambda: answers.exceptions(engine, policy=policy, as_of=dt.datetime.now(dt.UTC))),
    ]
    only = set(filter(None, os.environ.get("BENCH_PAGES", "").split(",")))
    print(f"ledger: {Ledger(engine).head().size:,} entries, {systems} systems; page system {system}")
    print(f"{'page':12} {'first ms':>9} {'server ms':>10} {'floor ms':>9} {'ratio':>6}  floor")
    for name, url_path, floor_name, floor in pages:
        if only and name not in only:
            continue
        start = time.perf_counter()
        first = client.get(url_path)
        first_ms = (time.perf_counter() - start) * 1000
        assert first.status_code == 200, (url_path, first.status_code, first.text[:300])
        page_ms = _median_ms(lambda u=url_path: client.get(u), runs)
        floor_ms = _median_ms(floor, runs)
        verdict = "ok" if page_ms < 300 else "over 300 ms"
        print(f"{name:12} {first_ms:9,.1f} {page_ms:10,.1f} {floor_ms:9,.1f} {page_ms / floor_ms:6.1f}  {floor_name} ({verdict})",
              flush=True)
    if not only or "systems" in only:
        earlier = "/web/?as_of=2026-06-01"  # after the benchmark ledger's entries, before this run's appends
        first_ms = _timed(lambda: client.get(earlier)) * 1000
        print(f"{'systems':12} {first_ms:9,.1f} {_median_ms(lambda: client.get(earlier), runs):10,.1f} {'':>9} "
              f"{'':>6}  as of 2026-06-01 (that moment's views are kept too)", flush=True)
        appended = [_after_append(led, system, cov["model_version"], lambda: client.get("/web/")) for _ in range(runs)]
        print(f"{'systems':12} {'':>9} {statistics.median(appended):10,.1f} {'':>9} {'':>6}  after one new entry "
              f"for {system} each time (its view alone is loaded again)", flush=True)
    client.__exit__(None, None, None)
    engine.dispose()


def _after_append(led: Any, system: str, version: str, request: Callable[[], Any]) -> float:
    """Milliseconds of ``request`` just after a pipeline appended one evaluation for ``system``."""
    from ledger.dsse import sign_envelope
    from ledger.ingest import Document
    from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = {"kind": "evaluation", "system": system, "observed_at": now, "model_version": version,
              "suite": "fairness", "metrics": {"score": 0.9, "run": time.time_ns() % 10**9}, "passed": True}
    envelope = sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(record)), bench_coverage.CI)
    led.append([Document("bench_web", envelope.to_json())])
    return _timed(request) * 1000


if __name__ == "__main__":
    main()
