"""Loading the framework library and building the control graph, against a same-run ceiling.

* Measured: ``controls.graph.load_graph()`` from cold caches: read every built-in
  YAML file, parse, validate (pydantic), resolve references, build the graph.
* Ceiling: ``yaml.load`` of the same bytes with libyaml's ``CSafeLoader`` alone,
  the least any YAML-based library could spend.
* Also: a warm call (in-process cache hit: read and hash the files) and a fresh
  interpreter doing the imports plus one cold load, which is what a CLI command pays.

Usage: python -m bench bench_frameworks   (repeats from $BENCH_REPEAT, default 5)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import yaml

from controls import graph as control_graph
from frameworks.loader import builtin_files


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print cold, warm and fresh-process load times and the ratio to the YAML ceiling."""
    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    files = builtin_files()
    blobs = [p.read_bytes() for p in files]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def cold() -> object:
        control_graph.clear_cache()
        return control_graph.load_graph()

    def ceiling() -> object:
        return [yaml.load(b, Loader=loader) for b in blobs]  # noqa: S506 (safe loader)

    t_cold = _best(cold, repeat)
    t_warm = _best(control_graph.load_graph, repeat)
    t_yaml = _best(ceiling, repeat)
    g = control_graph.load_graph()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import controls.graph as g; g.load_graph()"], check=True
    )
    t_process = time.perf_counter() - start

    size = sum(len(b) for b in blobs)
    print(f"files: {len(files)} ({size / 1e6:.2f} MB), loader: {loader.__name__}")
    print(
        f"graph: {len(g.requirements())} requirements, {len(g.controls())} controls, "
        f"{sum(len(c.mappings) for c in g.crosswalks())} crosswalk mappings"
    )
    print(f"ceiling  yaml.load only          {t_yaml * 1000:8.1f} ms")
    print(f"cold     load + validate + graph {t_cold * 1000:8.1f} ms  ({t_cold / t_yaml:.2f}x ceiling)")
    print(f"warm     cached (read + hash)    {t_warm * 1000:8.1f} ms")
    print(f"process  imports + cold load     {t_process * 1000:8.1f} ms  (best of 1, fresh interpreter)")


if __name__ == "__main__":
    main()
