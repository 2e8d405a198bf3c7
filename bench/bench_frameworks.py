"""Loading the framework library and building the control graph, against a same-run ceiling.

* Measured: ``controls.graph.load_graph()`` from cold caches: read every built-in
  YAML file, parse, validate (pydantic), resolve references, build the graph.
* Ceiling: ``yaml.load`` of the same bytes with libyaml's ``CSafeLoader`` alone,
  the least any YAML-based library could spend.
* Also: a warm call (in-process cache hit: read and hash the files), a load from
  the per-user disk cache (:mod:`frameworks.disk_cache`: read, hash, unpickle), and
  a fresh interpreter doing the imports plus one load from the disk cache, which is
  what a CLI command pays after its first run.

Usage: python -m bench bench_frameworks   (repeats from $BENCH_REPEAT, default 5)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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

    cache = tempfile.mkdtemp(prefix="assure-bench-cache-")

    def cold() -> object:
        os.environ["ASSURE_CACHE_DIR"] = ""  # no disk cache
        control_graph.clear_cache()
        return control_graph.load_graph()

    def from_disk() -> object:
        os.environ["ASSURE_CACHE_DIR"] = cache
        control_graph.clear_cache()
        return control_graph.load_graph()

    def ceiling() -> object:
        return [yaml.load(b, Loader=loader) for b in blobs]  # noqa: S506 (safe loader)

    t_cold = _best(cold, repeat)
    t_disk = _best(from_disk, repeat)  # the first call fills the cache
    t_warm = _best(control_graph.load_graph, repeat)
    t_yaml = _best(ceiling, repeat)
    g = control_graph.load_graph()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import controls.graph as g; g.load_graph()"], check=True,
        env=dict(os.environ, ASSURE_CACHE_DIR=cache),
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
    print(f"disk     read + hash + unpickle  {t_disk * 1000:8.1f} ms  ({t_disk / t_yaml:.2f}x ceiling)")
    print(f"process  imports + disk cache    {t_process * 1000:8.1f} ms  (best of 1, fresh interpreter)")


if __name__ == "__main__":
    main()
