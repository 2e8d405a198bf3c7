"""Whole-process time of the commands people type, against a bare interpreter start.

* Floor: ``python -c pass`` with the same interpreter, timed in the same rounds.
* Measured: ``assure --help``, a command's and a subcommand's ``--help``, a usage
  error, and the queries a GRC analyst runs on the demo ledger (``coverage``,
  ``gaps``, ``exceptions``, ``systems list``, ``log``, ``show``).
* Each round runs every command once, in turn, so drift on a shared machine hits
  them alike; the figure is the median of ``$BENCH_ROUNDS`` (default 7) rounds.
* Targets (issue 17): ``--help`` and usage errors ≤ 5× the floor, queries ≤ 12×.
* Bytecode is cached, as for an installed package (pip compiles it on install):
  ``PYTHONDONTWRITEBYTECODE`` is dropped and ``PYTHONPYCACHEPREFIX`` points at
  ``$BENCH_DIR/pycache`` (the source tree is not written), and one untimed round
  runs first. Without a cache every module of ours is compiled from source on each
  run (~90 ms more for a query on our machines).

The demo ledger is ``demo/out/ledger.db``; it is built with ``demo/run.sh`` first if
missing. Usage: python -m bench bench_cli
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DB = ROOT / "demo" / "out" / "ledger.db"
ASSURE = str(Path(sys.executable).with_name("assure"))

#: (label, argv, target ratio)
COMMANDS: list[tuple[str, list[str], float]] = [
    ("assure --help", ["--help"], 5),
    ("assure coverage --help", ["coverage", "--help"], 5),
    ("assure keys trust --help", ["keys", "trust", "--help"], 5),
    ("usage error (coverage, no --system)", ["coverage"], 5),
    ("coverage --system credit-scoring", ["coverage", "--system", "credit-scoring"], 12),
    ("gaps --system credit-scoring", ["gaps", "--system", "credit-scoring"], 12),
    ("exceptions", ["exceptions"], 12),
    ("systems list", ["systems", "list"], 12),
    ("log", ["log"], 12),
    ("show 1", ["show", "1"], 12),
]


def _ensure_demo_ledger() -> None:
    if DEMO_DB.exists():
        return
    print("building the demo ledger (demo/run.sh) ...", flush=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run(["bash", str(ROOT / "demo" / "run.sh")], env=env, check=True, stdout=subprocess.DEVNULL)


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT / "demo", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - start


def main() -> None:
    """Print each command's median whole-process time, the bare start's, and the ratio."""
    _ensure_demo_ledger()
    rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
    env = dict(os.environ, ASSURE_DB=f"sqlite:///{DEMO_DB}",
               PYTHONPYCACHEPREFIX=str(Path(os.environ.get("BENCH_DIR", "/tmp/assure-bench")) / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    bare = [sys.executable, "-c", "pass"]
    for _label, args, _target in COMMANDS:  # untimed: writes the bytecode cache
        _time([ASSURE, *args], env)
    times: dict[str, list[float]] = {"bare": []}
    for _ in range(rounds):
        times["bare"].append(_time(bare, env))
        for label, args, _target in COMMANDS:
            times.setdefault(label, []).append(_time([ASSURE, *args], env))
    floor = statistics.median(times["bare"])
    print(f"bare interpreter start (python -c pass): {floor * 1000:.0f} ms (median of {rounds})")
    print(f"{'command':40} {'ms':>7} {'ratio':>7} {'target':>7}")
    for label, _args, target in COMMANDS:
        t = statistics.median(times[label])
        ratio = t / floor
        mark = "" if ratio <= target else "  (over)"
        print(f"{label:40} {t * 1000:7.0f} {ratio:6.1f}× {target:6.0f}×{mark}")


if __name__ == "__main__":
    main()
