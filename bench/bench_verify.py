"""``assure verify`` over a large ledger, against cores x raw Ed25519 verifies/s.

Builds (once, then reuses) a SQLite ledger of N entries through the library:
evaluation records signed offline as DSSE envelopes by two pipeline keys (the
second trusted half-way, the first revoked at three quarters, so key-event
replay is exercised) and appended as pre-signed envelopes in batches of 50,000.
Then it runs ``verify_ledger`` in a fresh process and prints:

* entries/s, the ceiling measured in the same run, before and after it, the
  higher kept (cores x raw libsodium
  Ed25519 verifies/s of one process on records like the ledger's, PAE built
  beforehand, nothing but the call timed) and their ratio (issue 6 target:
  >= 0.8); also the raw rate of one process per core running at once, which
  shows what the cores really deliver together;
* the floor: one process per core doing only what any verifier must per
  entry (read the entry and its payload, SHA-256 the payload, build the PAE,
  verify one signature), i.e. the highest ratio reachable on this database;
* peak RSS of the verifying process and of its largest worker, and the RSS of
  the verifying process at 10% and at 100% of the entries (constant memory: the
  two should be about equal);
* a monitor's run (issue 17): the full run's verified state kept, ``$BENCH_VERIFY_NEW``
  (1,000) entries appended, then ``verify --state`` checking only those: its time
  against the full run's (target: under 1%). The cached ledger grows by that much
  on every run.

Usage::

    python -m bench bench_verify                        # N from $BENCH_VERIFY_N (default 1,000,000)
    python -m bench.bench_verify --n 200000 [--workers 2] [--db URL] [--cache-dir DIR]

The ledger is cached under ``--cache-dir`` (default ``$BENCH_DIR`` or
``/tmp/assure-bench``) as ``verify-<N>.db``; building 1,000,000 entries takes a
few minutes on 2 cores. ``--db URL`` verifies (and, if empty, builds) another
database instead, e.g. a PostgreSQL one. Not a test.
"""

from __future__ import annotations

import argparse
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import nacl.bindings

from bench.bench_ledger import VERSIONS, _records, version_records
from ledger import migrate
from ledger.db import make_engine
from ledger.dsse import pae, sign_envelope
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.store import Ledger, init_ledger, read_head, revoke_key, trust_key

BATCH = 50_000
ORIGIN = "bench.example/verify"
ADMIN, CI1, CI2 = (PrivateKey(bytes([i]) * 32) for i in (1, 2, 3))
FORMAT = 1  # bump when the built ledger changes shape, to ignore old caches


def _sign_range(start: int, stop: int, second_key: bool) -> list[dict[str, Any]]:
    """Envelopes (as JSON mappings) for records start..stop-1."""
    key = CI2 if second_key else CI1
    return [
        sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(rec)), key).to_json()
        for rec in _records_range(start, stop)
    ]


def _records_range(start: int, stop: int) -> list[dict[str, Any]]:
    recs = _records(stop - start)
    for i, r in enumerate(recs, start=start):
        r["suite"] = f"suite-{i}"
        r["metrics"]["n"] = 10_000 + i
    return recs


def build(url: str, n: int, *, workers: int) -> None:
    """Fill an empty migrated database at ``url`` with a ledger of about ``n`` entries."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = time.perf_counter()
    now = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)  # after the records' observed_at
    init_ledger(engine, ADMIN, origin=ORIGIN, now=now)
    led = Ledger(engine)
    trust_key(led, ADMIN, CI1.public, role="pipeline", owner="ci-1", now=now)
    led.append([Document("system", {
        "kind": "system", "system": "bench", "observed_at": "2026-11-01T00:00:00Z", "name": "Bench",
        "owner": "bench", "purpose": "benchmark", "risk_tier": "low", "eu_class": "minimal", "eu_role": "none",
    }), *version_records()], signing_key=ADMIN, now=now)
    records = max(0, n - 5 - len(VERSIONS))  # genesis, trust, system, versions, trust, revoke
    done, half, three_quarters = 0, records // 2, 3 * records // 4
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        while done < records:
            stop = min(done + BATCH, *(m for m in (half, three_quarters, records) if m > done))
            if done == half:
                trust_key(led, ADMIN, CI2.public, role="pipeline", owner="ci-2", now=now)
            if done == three_quarters:
                revoke_key(led, ADMIN, CI1.public.key_id, reason="rotated", now=now)
            second = done >= half
            step = -(-(stop - done) // workers)
            parts = pool.map(_sign_range, range(done, stop, step),
                             [min(stop, s + step) for s in range(done, stop, step)], [second] * workers)
            docs = [Document(f"env[{i}]", e) for i, e in enumerate((e for p in parts for e in p), start=done)]
            now += dt.timedelta(minutes=1)
            led.append(docs, now=now)
            done = stop
            rate = done / (time.perf_counter() - t0)
            print(f"  built {done:,}/{records:,} records ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    engine.dispose()


def raw_verify_rate(payloads: list[bytes], sigs: list[bytes], pub: bytes) -> float:
    """Raw libsodium Ed25519 verifies/s in this process: PAE built beforehand, one call each."""
    msgs = [sig + pae(PAYLOAD_TYPE, p) for p, sig in zip(payloads, sigs, strict=True)]
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for m in msgs:
            nacl.bindings.crypto_sign_open(m, pub)
        best = max(best, len(msgs) / (time.perf_counter() - t))
    return best


def _ceiling_worker(n: int) -> float:
    envs = [sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(r)), CI1) for r in _records_range(0, n)]
    return raw_verify_rate([e.payload for e in envs], [e.signatures[0].sig for e in envs], CI1.public.raw)


def ceiling(cores: int, n: int = 4_000) -> tuple[float, float]:
    """Raw verifies/s: (one process alone, all cores at once with one process each)."""
    alone = _ceiling_worker(n)
    with ProcessPoolExecutor(cores, mp_context=get_context("fork")) as pool:
        together = sum(pool.map(_ceiling_worker, [n] * cores))
    return alone, together


_SIG = re.compile(rb'"keyid":"([0-9a-f]{64})","sig":"([^"]+)"')


def _floor_worker(path: str, lo: int, hi: int, keys: dict[bytes, bytes]) -> int:
    """Read entries lo..hi-1 with their payloads and do only SHA-256, PAE and one verify each."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute("SELECT e.leaf, p.payload_type, p.body FROM entry e JOIN payload p ON p.sha256 = "
                        "e.payload_sha256 WHERE e.seq >= ? AND e.seq < ? ORDER BY e.seq", (lo, hi))
    n = 0
    for leaf, ptype, body in rows:
        hashlib.sha256(body).digest()
        keyid, sig = _SIG.search(leaf).groups()  # type: ignore[union-attr]
        pub = keys.get(keyid)
        if pub is not None:
            nacl.bindings.crypto_sign_open(binascii.a2b_base64(sig) + pae(ptype, body), pub)
            n += 1
    return n


def floor_rate(path: str, size: int, cores: int) -> float:
    """Entries/s of the least any verifier must do per entry, one process per core at once:
    read the entry and its payload, hash the payload, build the PAE, verify one signature."""
    keys = {k.public.key_id.encode(): k.public.raw for k in (ADMIN, CI1, CI2)}
    step = -(-size // cores)
    with ProcessPoolExecutor(cores, mp_context=get_context("fork")) as pool:
        t = time.perf_counter()
        done = sum(pool.map(_floor_worker, [path] * cores, range(0, size, step),
                            [min(size, s + step) for s in range(0, size, step)], [keys] * cores))
        return done / (time.perf_counter() - t)


def _rss_kib(field: str = "VmRSS") -> int:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), in KiB.

    VmHWM rather than ru_maxrss: after fork+exec Linux keeps the parent's peak in
    ru_maxrss, so a verifier started by the process that built the ledger would
    report the builder's memory.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_verify(url: str, workers: int | None, state: str | None = None) -> dict[str, Any]:
    """Verify ``url`` in this process; time it and sample memory (called in a fresh process).

    With ``state``: start from the verified state in that file if it exists; write the new one there.
    """
    from ledger.verified_state import VerifiedState
    from ledger.verify import verify_ledger

    engine = make_engine(url)
    samples: dict[str, int] = {}

    def progress(done: int, total: int) -> None:
        if "rss_10pct_kib" not in samples and done >= total // 10:
            samples["rss_10pct_kib"] = _rss_kib()

    since = VerifiedState.read(Path(state)) if state and Path(state).exists() else None
    busy0, cpu0, t = _machine_busy(), time.process_time(), time.perf_counter()
    report = verify_ledger(engine, workers=workers, progress=progress, since=since)
    elapsed = time.perf_counter() - t
    if state and report.state is not None:
        report.state.write(Path(state))
    main_cpu = time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = children.ru_utime + children.ru_stime
    machine_cpu = _machine_busy() - busy0
    samples["rss_end_kib"] = _rss_kib()
    return {
        "main_cpu": main_cpu,
        "workers_cpu": workers_cpu,
        "others_cores": max(0.0, machine_cpu - main_cpu - workers_cpu) / elapsed,
        "ok": report.ok,
        "failure": str(report.failure) if report.failure else None,
        "entries": report.size,
        "signatures": report.signatures,
        "seconds": elapsed,
        "maxrss_kib": _rss_kib("VmHWM"),
        "workers_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        **samples,
    }


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _ledger_size(url: str) -> int | None:
    engine = make_engine(url)
    try:
        if migrate.current_revision(engine) is None:
            return None
        with engine.connect() as conn:
            head = read_head(conn)
        return head.size if head else None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Build or reuse the ledger, verify it in a fresh process, print figures and ratio."""
    p = argparse.ArgumentParser(prog="bench_verify", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=int(os.environ.get("BENCH_VERIFY_N", "1000000")))
    p.add_argument("--workers", type=int, default=None, help="verify workers (default: all cores)")
    p.add_argument("--db", default=None, help="database URL (default: cached SQLite file)")
    p.add_argument("--cache-dir", default=os.environ.get("BENCH_DIR", "/tmp/assure-bench"))
    p.add_argument("--new", type=int, default=int(os.environ.get("BENCH_VERIFY_NEW", "1000")),
                   help="entries appended after the full run, for the incremental run")
    p.add_argument("--run-verify", default=None, help=argparse.SUPPRESS)
    p.add_argument("--state", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv if argv is not None else [])
    if args.run_verify:
        print(json.dumps(run_verify(args.run_verify, args.workers, args.state)))
        return
    cores = os.cpu_count() or 1
    url = args.db
    if url is None:
        Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
        path = Path(args.cache_dir) / f"verify-v{FORMAT}-{args.n}.db"
        url = f"sqlite:///{path}"
    size = _ledger_size(url) if not url.startswith("sqlite:///") or Path(url[10:]).exists() else None
    if size is None:
        kept = " (kept for later runs)" if args.db is None else ""
        print(f"building a ledger of {args.n:,} entries at {url}{kept}", file=sys.stderr)
        build(url, args.n, workers=cores)
    before = ceiling(cores)  # measured before and after the run; the higher is kept (noisy VMs)
    state = Path(args.cache_dir) / "verify-bench-state.json"
    state.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.bench_verify", "--run-verify", url, "--state", str(state)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    incremental = None
    if args.new and out["ok"]:
        _append_new(url, out["entries"], args.new)
        incremental = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    after = ceiling(cores)
    floor = floor_rate(url.removeprefix("sqlite:///"), out["entries"], cores) if url.startswith("sqlite:///") else None
    per_core, all_cores = max(before[0], after[0]), max(before[1], after[1])
    rate = out["entries"] / out["seconds"]
    verify_ceiling = cores * per_core
    print(f"machine: {cores} cores; ledger: {out['entries']:,} entries ({url.split(':')[0]})")
    print(f"raw Ed25519 verify (libsodium, PAE precomputed): {per_core:,.0f}/s per core; "
          f"{all_cores:,.0f}/s with {cores} processes at once")
    status = "ok" if out["ok"] else f"FAILED {out['failure']}"
    print(f"verify: {status}; {out['seconds']:.1f} s, {rate:,.0f} entries/s; ceiling {cores} x {per_core:,.0f} = "
          f"{verify_ceiling:,.0f}/s; ratio {rate / verify_ceiling:.2f} (target >= 0.8)")
    if floor:
        print(f"floor: {cores} processes that only read each entry and payload, hash the payload and verify its "
              f"signature: {floor:,.0f}/s = {floor / verify_ceiling:.2f} of the ceiling, the most any verifier "
              f"reading this database reaches; verify is {rate / floor:.2f} of it")
    cpu = out["main_cpu"] + out["workers_cpu"]
    print(f"cpu: reader {out['main_cpu']:.1f} s + workers {out['workers_cpu']:.1f} s = {cpu / out['entries'] * 1e6:.1f} "
          f"us per entry (raw verify {1e6 / per_core:.1f} us): efficiency {out['entries'] / cpu / per_core:.2f} "
          f"= the ratio reachable with every core free; other processes used {out['others_cores']:.2f} of "
          f"{cores} cores during the run")
    print(f"memory: verifier peak RSS {out['maxrss_kib'] / 1024:.0f} MiB (RSS at 10% "
          f"{out.get('rss_10pct_kib', 0) / 1024:.0f} MiB, at 100% {out['rss_end_kib'] / 1024:.0f} MiB); "
          f"largest worker peak RSS {out['workers_maxrss_kib'] / 1024:.0f} MiB")
    if incremental:
        status = "ok" if incremental["ok"] else f"FAILED {incremental['failure']}"
        print(f"monitor: verify --state after {args.new:,} new entries: {status}; {incremental['seconds']:.2f} s "
              f"for {incremental['entries']:,} entries = {incremental['seconds'] / out['seconds']:.2%} of the full "
              f"run (target < 1%)")


def _append_new(url: str, start: int, n: int) -> None:
    """Append ``n`` more evaluations signed by the current pipeline key (the monitor's new entries)."""
    envs = _sign_range(start, start + n, second_key=True)
    Ledger(make_engine(url)).append([Document(f"new[{i}]", e) for i, e in enumerate(envs)])


if __name__ == "__main__":
    main(sys.argv[1:])
