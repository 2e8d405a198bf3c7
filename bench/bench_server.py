"""Appends per second through ``assure serve`` against the library in one process, same run.

For each backend (SQLite, and PostgreSQL when ``$ASSURE_TEST_PG_URL`` is set, as
``make bench`` arranges) and each shape (one record per request; batches of 100):

* HTTP: 8 client threads post pre-signed envelopes to a real server (``assure
  serve`` subprocess: one process on SQLite, ``$BENCH_SERVER_WORKERS`` (2) on
  PostgreSQL); appends/s, and p50/p99 request latency;
* library: the same appends through ``Ledger.append`` from 8 threads of one process;
* ceiling: the database's own one-row write transactions per second (raw driver,
  8 threads on PostgreSQL, one on SQLite where writes are serialised anyway);
* HTTP ceiling: the same 8 client threads posting the same single-record bodies to a
  trivial FastAPI endpoint on uvicorn, run as ``assure serve`` runs it, that reads the
  body and answers 201 with nothing done: what HTTP in this stack (uvicorn, FastAPI,
  httpx, all in Python on this machine's cores) allows before any append.

Ratios printed: batched HTTP / batched library (target ≥ 0.7) and single-record
HTTP / one-row-transaction ceiling (target ≥ 0.5), and the HTTP ceiling / the one-row
ceiling: the most the latter ratio could be here if an append cost nothing. Sizes:
``$BENCH_SERVER_SINGLE`` (800 single-record posts) and ``$BENCH_SERVER_BATCHES`` (80
batches of 100).

Usage: python -m bench bench_server
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.bench_ledger import _records, version_records
from ledger import migrate
from ledger.api_tokens import create_token
from ledger.db import make_engine
from ledger.dsse import sign_envelope
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import Ledger, init_ledger, trust_key

CLIENTS = 8
SINGLE = int(os.environ.get("BENCH_SERVER_SINGLE", "800"))
BATCHES = int(os.environ.get("BENCH_SERVER_BATCHES", "80"))
BATCH = 100
PG_WORKERS = int(os.environ.get("BENCH_SERVER_WORKERS", "2"))
ASSURE = str(Path(sys.executable).with_name("assure"))


def _ledger(url: str) -> tuple[Any, PrivateKey]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    admin, ci = PrivateKey.generate(), PrivateKey.generate()
    init_ledger(engine, admin, origin="bench.example/server")
    led = Ledger(engine)
    trust_key(led, admin, ci.public, role="pipeline", owner="ci")
    led.append([Document("sys", {"kind": "system", "system": "bench", "observed_at": "2026-11-01T00:00:00Z",
                                 "name": "Bench", "owner": "o", "purpose": "p", "risk_tier": "low",
                                 "eu_class": "minimal", "eu_role": "provider"})], signing_key=admin)
    led.append(version_records(), signing_key=ci)
    return engine, ci


def _envelopes(key: PrivateKey, n: int, tag: str) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(_records(n)):
        r["suite"] = f"{tag}-{i}"
        r.pop("controls")
        out.append(sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(r)), key).to_json())
    return out


_TRIVIAL_APP = """
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

app = FastAPI()


@app.post("/v1/entries")
async def post_entries(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"entries": []}, status_code=201)


@app.get("/v1/log")
async def log() -> JSONResponse:
    return JSONResponse([])
"""


def _server(url: str, workers: int) -> Any:
    return _serving([ASSURE, "--db", url, "serve", "--port", "0", "--workers", str(workers), "--no-access-log"],
                    workers)


@contextmanager
def _trivial_server() -> Iterator[str]:
    """The HTTP ceiling's server: uvicorn as ``assure serve`` runs it, an endpoint that does nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_trivial_app.py").write_text(_TRIVIAL_APP)
        run = ("import uvicorn; uvicorn.run('bench_trivial_app:app', host='127.0.0.1', port=0, log_level='info', "
               "access_log=False, proxy_headers=True, server_header=False)")
        with _serving([sys.executable, "-c", run], 1, cwd=tmp) as url:
            yield url


@contextmanager
def _serving(argv: list[str], workers: int, cwd: str | None = None) -> Iterator[str]:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=cwd)
    try:
        for _ in range(600):
            m = re.search(r"running on (http://127\.0\.0\.1:\d+)", Path(log.name).read_text())
            if m:
                break
            if proc.poll() is not None:
                raise RuntimeError(Path(log.name).read_text())
            time.sleep(0.1)
        else:
            raise RuntimeError("server did not start")
        for _ in range(600):  # workers come up after the parent says where it listens
            try:
                httpx.get(m.group(1) + "/v1/log", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(1.0 * workers)
        yield m.group(1)
    finally:
        proc.terminate()
        proc.wait(30)
        os.unlink(log.name)


def _run(jobs: list[list[Any]], work: Callable[[Any, Any], None], setup: Callable[[], Any] | None) -> tuple[float, list[float]]:
    """Run each client's jobs on its own thread; (elapsed seconds, per-call latencies)."""
    lat: list[float] = []
    lock = threading.Lock()

    def client(mine: list[Any]) -> None:
        ctx = setup() if setup else None
        own = []
        for job in mine:
            t = time.perf_counter()
            work(ctx, job)
            own.append(time.perf_counter() - t)
        with lock:
            lat.extend(own)
        if ctx is not None:
            ctx.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(client, jobs))
    return time.perf_counter() - t0, lat


def _split(items: list[Any], size: int) -> list[list[Any]]:
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    return [chunks[c::CLIENTS] for c in range(CLIENTS)]


def _http(url: str, token: str, envs: list[dict[str, Any]], size: int) -> tuple[float, list[float]]:
    def post(c: httpx.Client, batch: list[dict[str, Any]]) -> None:
        r = c.post("/v1/entries", json=batch if size > 1 else batch[0])
        if r.status_code != 201:
            raise RuntimeError(r.text)

    return _run(_split(envs, size), post,
                lambda: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300))


def _library(led: Ledger, envs: list[dict[str, Any]], size: int) -> tuple[float, list[float]]:
    def append(_: Any, batch: list[dict[str, Any]]) -> None:
        led.append([Document(f"b[{i}]", e) for i, e in enumerate(batch)], parallel=False)

    return _run(_split(envs, size), append, None)


def _ceiling(url: str) -> float:
    """The database's one-row write transactions per second."""
    n = 2000
    if url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS bench_row (id INTEGER PRIMARY KEY, body BLOB)")
        body = os.urandom(600)
        t0 = time.perf_counter()
        for _ in range(n):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO bench_row (body) VALUES (?)", (body,))
            db.execute("COMMIT")
        rate = n / (time.perf_counter() - t0)
        db.close()
        return rate
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS bench_row (id bigserial PRIMARY KEY, body bytea)")
    body = os.urandom(600)

    def writer(k: int) -> None:
        with psycopg.connect(dsn) as c:
            for _ in range(k):
                c.execute("INSERT INTO bench_row (body) VALUES (%s)", (body,))
                c.commit()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(writer, [n // CLIENTS] * CLIENTS))
    return n / (time.perf_counter() - t0)


def _pct(lat: list[float], q: float) -> float:
    return statistics.quantiles(lat, n=100)[int(q) - 1] * 1000 if len(lat) >= 2 else lat[0] * 1000


def _http_stack() -> str:
    """What uvicorn's defaults (``http="auto"``, ``loop="auto"``) pick here."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn with {http} and {loop}"


def _http_ceiling(envs: list[dict[str, Any]]) -> tuple[float, list[float]]:
    with _trivial_server() as url:
        return _http(url, "none", envs, 1)


def _backend(name: str, url_for: Callable[[str], str]) -> None:
    results: dict[str, tuple[float, list[float]]] = {}
    for shape, count, size in (("single", SINGLE, 1), ("batch", BATCHES * BATCH, BATCH)):
        for how in ("library", "http"):
            url = url_for(f"{shape}_{how}")
            engine, ci = _ledger(url)
            envs = _envelopes(ci, count, f"{shape}-{how}")
            if how == "library":
                results[f"{shape} {how}"] = _library(Ledger(engine), envs, size)
            else:
                token = create_token(engine, role="pipeline", name="bench")[0]
                with _server(url, 1 if name == "SQLite" else PG_WORKERS) as server:
                    results[f"{shape} {how}"] = _http(server, token, envs, size)
            engine.dispose()
            if shape == "single" and how == "http":
                results["HTTP ceiling"] = _http_ceiling(envs)
    ceiling = _ceiling(url_for("ceiling"))
    print(f"\n{name}: {CLIENTS} clients; {SINGLE} single-record posts, {BATCHES} batches of {BATCH}; {_http_stack()}")
    print(f"  {'':16} {'appends/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    rate = {}
    for label, (elapsed, lat) in results.items():
        n = len(lat) * (BATCH if label.startswith("batch") else 1)
        rate[label] = n / elapsed
        print(f"  {label:16} {rate[label]:10,.0f} {_pct(lat, 50):8.1f} {_pct(lat, 99):8.1f}")
    print(f"  one-row write transactions/s (ceiling): {ceiling:,.0f}")
    print(f"  batched HTTP / batched library: {rate['batch http'] / rate['batch library']:.2f} (target >= 0.7)")
    print(f"  single HTTP / one-row ceiling:  {rate['single http'] / ceiling:.2f} (target >= 0.5)")
    print(f"  single HTTP / single library:   {rate['single http'] / rate['single library']:.2f}")
    print(f"  single HTTP / HTTP ceiling:     {rate['single http'] / rate['HTTP ceiling']:.2f}")
    print(f"  HTTP ceiling / one-row ceiling: {rate['HTTP ceiling'] / ceiling:.2f} (the most single HTTP / one-row "
          "could be here)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _backend("SQLite", lambda tag: f"sqlite:///{tmp}/{tag}.db")
    pg = os.environ.get("ASSURE_TEST_PG_URL")
    if not pg:
        print("\nPostgreSQL: skipped (no $ASSURE_TEST_PG_URL; run through 'make bench')")
        return
    import sqlalchemy as sa

    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    made = []

    def url_for(tag: str) -> str:
        name = f"bench_srv_{tag}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        made.append(name)
        return pg.rsplit("/", 1)[0] + "/" + name

    try:
        _backend("PostgreSQL", url_for)
    finally:
        with admin.connect() as c:
            for name in made:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    main()
