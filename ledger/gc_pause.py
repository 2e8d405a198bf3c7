"""Pause Python's cyclic garbage collector around batch work.

A batch append or a verify pass allocates hundreds of thousands of short-lived,
acyclic objects (parsed records, rows, hashes) that reference counting frees at
once. The cyclic collector still walks every live object each time its
allocation counters trip, which cost about a quarter of an append's time
(measured: 165 -> 120 us of main-thread CPU per record, bench/README.md).
Pausing it for the batch and collecting once afterwards keeps memory bounded by
the batch.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (if it was on), then restore it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
