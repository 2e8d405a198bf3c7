"""Building an audit package of a system with 1,000 evidence entries, against a same-run ceiling.

* Measured: ``reports.package.build_package``, everything ``assure package`` does
  after loading the framework library: sign a checkpoint, read the entries in
  scope and their proofs, verify them and recompute coverage offline, compare
  with the database, render the PDF (requirements, gaps, key registry and a
  1,000-row evidence index), sign the manifest, zip.
* Ceiling: WeasyPrint rendering the same 1,000 evidence rows as one bare HTML
  table (no styles, no other content), the least any WeasyPrint report of that
  evidence could spend.
* Also: ``verify-package`` on the result (reading every page's text with pypdf),
  and peak Python memory (tracemalloc) of each, measured in a separate pass.

Targets (issue 5): the package under 10 s and at most 2x the ceiling.

Usage: python -m bench bench_package   (entries from $BENCH_ENTRIES, default 1000)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controls.approvals import load_policy
from controls.graph import load_graph
from ledger import migrate
from ledger.db import make_engine
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.store import Ledger, init_ledger, trust_key

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
SUITES = ("fairness", "performance", "robustness", "privacy", "safety")


def _key(name: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"bench:" + name.encode()).digest())


def _records(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{
        "kind": "model_version", "system": "credit-scoring", "observed_at": "2026-11-01T10:00:00Z",
        "version": "2.1.0", "artifact_sha256": "ab" * 32,
    }]
    for i in range(n - 1):
        when = (T0 + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i % 4 == 3:
            out.append({"kind": "document", "system": "credit-scoring", "observed_at": when,
                        "doc_type": "monitoring_plan", "title": f"Monitoring report {i}", "model_version": "2.1.0"})
        else:
            out.append({"kind": "evaluation", "system": "credit-scoring", "observed_at": when,
                        "model_version": "2.1.0", "suite": SUITES[i % len(SUITES)],
                        "metrics": {"score": 0.9 + (i % 7) / 100}, "thresholds": {"score": {"min": 0.8}},
                        "passed": i % 11 != 0})
    return out


def _ledger(path: Path, n: int) -> Any:
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    admin, ci = _key("admin"), _key("ci")
    init_ledger(engine, admin, origin="bench.example/ledger", now=T0)
    led = Ledger(engine)
    trust_key(led, admin, ci.public, role="pipeline", owner="ci", now=T0)
    led.append([Document("system", {
        "kind": "system", "system": "credit-scoring", "observed_at": "2026-11-01T09:00:00Z", "name": "Credit scoring",
        "owner": "Risk Analytics", "purpose": "Scores credit applications", "risk_tier": "high",
        "eu_class": "high_risk_annex_iii", "eu_role": "provider"})], signing_key=admin, now=T0)
    led.append([Document(f"r{i}", r) for i, r in enumerate(_records(n))], signing_key=ci,
               now=T0 + dt.timedelta(minutes=n, hours=1))  # after every record's observed_at
    return engine, admin


def _bare_table(rows: list[Any]) -> str:
    cells = "".join(
        f"<tr><td>{e.seq}</td><td>{e.kind}</td><td>{e.system}</td><td>{e.observed_at:%Y-%m-%d}</td>"
        f"<td>{e.received_at.isoformat()}</td><td>{e.signer_owner} ({e.signer_role})</td><td>{e.entry_hash}</td></tr>"
        for e in rows
    )
    return f"<html><body><table>{cells}</table></body></html>"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    """Print package, ceiling and verify times, the ratio, and peak memory."""
    from weasyprint import HTML

    from controls import service
    from reports.package import build_package
    from reports.verify import verify_package

    n = int(os.environ.get("BENCH_ENTRIES", "1000"))
    graph = load_graph(user_dir=None)
    as_of = T0 + dt.timedelta(days=2)
    with tempfile.TemporaryDirectory() as tmp:
        engine, admin = _ledger(Path(tmp) / "ledger.db", n)
        view = service.system_view(engine, "credit-scoring", as_of=as_of, policy=load_policy())
        rows = sorted(view.by_hash.values(), key=lambda e: e.seq)
        html = _bare_table(rows)

        def ceiling() -> bytes:
            return HTML(string=html).render().write_pdf()  # type: ignore[no-any-return]

        def package() -> Any:
            return build_package(engine, "credit-scoring", admin_key=admin, graph=graph, as_of=as_of)

        ceiling()  # warm: imports, fonts
        t_ceiling, _ = _timed(ceiling)
        t_package, result = _timed(package)
        path = Path(tmp) / "package.zip"
        path.write_bytes(result.data)
        t_verify, report = _timed(lambda: verify_package(path, trust_key=admin.public))
        assert report.ok, report.findings
        mem_ceiling, mem_package = _peak_mb(ceiling), _peak_mb(package)
        engine.dispose()

    print(f"evidence entries: {len(rows)} in scope ({len(result.bundle.entries)} entries in the bundle), "
          f"package {len(result.data) / 1e6:.2f} MB")
    print(f"ceiling  bare 1-table render   {t_ceiling:7.2f} s   peak {mem_ceiling:6.1f} MB (Python)")
    print(f"package  build_package         {t_package:7.2f} s   peak {mem_package:6.1f} MB (Python)  "
          f"({t_package / t_ceiling:.2f}x ceiling; target < 10 s and <= 2x)")
    print(f"verify   verify_package        {t_verify:7.2f} s")


if __name__ == "__main__":
    main()
