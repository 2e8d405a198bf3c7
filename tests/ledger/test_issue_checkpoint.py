"""The ledger never signs a checkpoint inconsistent with one it signed before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledger.checkpoints import issue_checkpoint
from ledger.errors import IntegrityError
from ledger.reindex import rebuild_projections
from ledger.store import Ledger
from tests.conftest import cut_tail, docs, drop_append_only_triggers, eval_record


def _cut_tail(engine: sa.Engine, keep: int) -> None:
    """Delete entries >= keep behind the ledger's back and make the head match."""
    with engine.begin() as c:
        drop_append_only_triggers(c)
        cut_tail(c, keep)
    rebuild_projections(engine)  # the derived tables follow the cut, as an attacker would make them


def test_refuses_to_sign_after_truncation_below_its_last_checkpoint(ledger: Ledger, keys) -> None:
    ledger.append(docs(eval_record(), eval_record(suite="b")), signing_key=keys.pipeline)
    cp, _ = issue_checkpoint(ledger.engine, keys.admin)
    _cut_tail(ledger.engine, cp.size - 1)
    with pytest.raises(IntegrityError, match=f"a checkpoint covers {cp.size} entries but the ledger has {cp.size - 1}"):
        issue_checkpoint(ledger.engine, keys.admin)


def test_refuses_to_sign_a_rewritten_prefix(ledger: Ledger, keys) -> None:
    ledger.append(docs(eval_record()), signing_key=keys.pipeline)
    cp, _ = issue_checkpoint(ledger.engine, keys.admin)
    _cut_tail(ledger.engine, cp.size - 1)  # drop the last entry, then append a different one in its place
    ledger.append(docs(eval_record(suite="other"), eval_record(suite="more")), signing_key=keys.pipeline)
    with pytest.raises(IntegrityError, match=f"not consistent with the checkpoint of size {cp.size}"):
        issue_checkpoint(ledger.engine, keys.admin)
