"""Evidence is remembered per process by the exact bytes it was built from: any other byte
(the payload, the leaf, the chain hashes) is built and checked afresh, and fails as before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controls.evidence import evidence_from_bytes
from ledger.db import read_transaction
from ledger.errors import IntegrityError
from ledger.store import Ledger
from ledger.trusted_keys import load_registry

_ROW = sa.text("SELECT e.seq, e.entry_hash, e.prev_hash, e.leaf, p.body FROM entry e "
               "JOIN payload p ON p.sha256 = e.payload_sha256 WHERE e.seq = :seq")


@pytest.fixture
def stored(ledger: Ledger) -> dict:
    with read_transaction(ledger.engine) as conn:
        seq, ehash, prev, leaf, body = conn.execute(_ROW, {"seq": ledger.head().size - 1}).one()
        registry = load_registry(conn)
    return {"seq": seq, "entry_hash": bytes(ehash), "prev_hash": bytes(prev), "leaf": bytes(leaf),
            "payload": bytes(body), "registry": registry}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from(["entry_hash", "prev_hash", "leaf", "payload"]), where=st.integers(0, 10_000),
       bit=st.integers(0, 7))
def test_a_flipped_bit_is_never_answered_from_memory(stored: dict, part: str, where: int, bit: int) -> None:
    first = evidence_from_bytes(**stored)
    assert evidence_from_bytes(**stored) is first  # the same bytes: remembered
    data = bytearray(stored[part])
    data[where % len(data)] ^= 1 << bit
    with pytest.raises(IntegrityError):
        evidence_from_bytes(**(stored | {part: bytes(data)}))
