"""Signature checks handed to a worker process report exactly what checking inline would."""

from __future__ import annotations

import threading

import pytest

from ledger import deferred_checks
from ledger.deferred_checks import CanonicalCheck, DeferredChecks, SignatureCheck
from ledger.records import parse_record, record_bytes
from tests.conftest import eval_record, fixed_key

KEY = fixed_key("deferred")


def _checks(n: int, bad: set[int]) -> list[SignatureCheck]:
    out = []
    for i in range(n):
        message = f"message {i}".encode()
        sig = KEY.sign(message if i not in bad else b"something else")
        out.append(SignatureCheck(i, f"doc[{i}]", "signatures[0]", KEY.public.key_id, KEY.public.raw, message, sig))
    return out


def _with_payload_checks(checks: list[SignatureCheck], spaced: set[int]) -> list:
    """Each signature check preceded by its document's canonical-form check (spaced ones fail it)."""
    good = record_bytes(parse_record(eval_record()))
    out: list = []
    for c in checks:
        payload = good.replace(b",", b", ") if c.index in spaced else good
        out += [CanonicalCheck(c.index, c.source, payload), c]
    return out


@pytest.mark.parametrize(
    ("bad", "spaced"),
    [(set(), set()), ({300}, set()), ({130, 450}, set()), ({599}, set()), (set(), {200}), ({300}, {301}), ({301}, {300})],
    ids=["none", "one", "two", "last", "form", "signature-before-form", "form-before-signature"],
)
def test_worker_and_inline_find_the_same_first_failure(
    monkeypatch: pytest.MonkeyPatch, bad: set[int], spaced: set[int]
) -> None:
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    found = {}
    for parallel in (True, False):
        with DeferredChecks(parallel=parallel) as checks:
            for c in _with_payload_checks(_checks(600, bad), spaced):
                checks.add(c)
            error = checks.first_failure()
            used_worker = checks._process is not None
        assert used_worker == parallel
        found[parallel] = (error.source, error.field, error.reason) if error else None
    assert found[True] == found[False]
    first = min(bad | spaced, default=None)
    if first is None:
        assert found[True] is None
    elif first in spaced:
        assert found[True] == (f"doc[{first}]", "payload", found[True][2]) and "canonical form" in found[True][2]
    else:
        assert found[True] == (f"doc[{first}]", "signatures[0]", found[True][2]) and "does not verify" in found[True][2]


def test_failure_after_the_erroring_document_is_not_reported_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    with DeferredChecks(parallel=True) as checks:
        for c in _checks(200, {150}):
            checks.add(c)
        checks.raise_first_failure(up_to=149)  # document 149 failed on its own: its error stands
        with pytest.raises(Exception, match="does not verify"):
            checks.raise_first_failure(up_to=150)


def test_no_fork_while_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with DeferredChecks(parallel=True) as checks:
            for c in _checks(200, {10}):
                checks.add(c)
            assert checks.first_failure() is not None and checks._process is None
    finally:
        stop.set()
        other.join()


def test_a_worker_that_dies_is_replaced_by_checking_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    with DeferredChecks(parallel=True) as checks:
        for c in _checks(300, {250}):
            checks.add(c)
        assert checks._process is not None
        checks._process.kill()  # e.g. the out-of-memory killer
        checks._process.join()
        error = checks.first_failure()
    assert error is not None and error.source == "doc[250]"


def test_an_interrupted_batch_stops_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred_checks, "CHUNK", 64)
    with pytest.raises(KeyboardInterrupt), DeferredChecks(parallel=True) as checks:
        for c in _checks(600, set()):
            checks.add(c)
        process = checks._process
        raise KeyboardInterrupt
    assert process is not None and not process.is_alive()
