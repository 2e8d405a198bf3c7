"""Many writers at once: no append lost or doubled, contiguous seqs, one chain."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from ledger.db import make_engine
from ledger.ingest import Document
from ledger.store import Ledger
from ledger.verify import verify_ledger
from tests.conftest import eval_record, fixed_key

WRITERS = 8
PER_WRITER = 250


def _writer(url: str, writer: int, barrier) -> list[int]:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    led = Ledger(engine)
    key = fixed_key("pipeline")
    barrier.wait()
    seqs = []
    for i in range(PER_WRITER):
        rec = eval_record(suite=f"w{writer}-run{i}")
        seqs.append(led.append([Document(f"w{writer}[{i}]", rec)], signing_key=key)[0].seq)
    engine.dispose()
    return seqs


@pytest.mark.slow
def test_concurrent_appenders_form_one_contiguous_chain(ledger: Ledger, db_url: str) -> None:
    start = ledger.head().size
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WRITERS)
        with ctx.Pool(WRITERS) as pool:
            results = pool.starmap(_writer, [(db_url, w, barrier) for w in range(WRITERS)])
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(start, start + WRITERS * PER_WRITER))  # none lost, none doubled
    assert ledger.head().size == start + WRITERS * PER_WRITER
    report = verify_ledger(ledger.engine)
    assert report.ok, report.failure
