"""The key registry a process keeps between appends is never what decides: a key revoked or
trusted by another process counts at this process's very next append."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.errors import InputError
from ledger.store import Ledger
from tests.conftest import docs, eval_record, table_bytes

REPO = Path(__file__).resolve().parents[2]


def _elsewhere(db_url: str, code: str) -> None:
    """Run ``code`` in another Python process with ``led`` (a Ledger on ``db_url``) and ``keys``."""
    prelude = (
        "from ledger.db import make_engine\nfrom ledger.store import Ledger, revoke_key, trust_key\n"
        "from tests.conftest import fixed_key\n"
        "keys = {n: fixed_key(n) for n in ('admin', 'pipeline', 'stranger')}\n"
        f"led = Ledger(make_engine({db_url!r}))\n"
    )
    subprocess.run([sys.executable, "-c", prelude + code], cwd=REPO, check=True, timeout=120)


def test_a_key_revoked_by_another_process_is_refused_at_the_next_append(ledger: Ledger, keys, db_url, engine) -> None:
    ledger.append(docs(eval_record(suite="before")), signing_key=keys.pipeline)  # judged trusted: cached
    _elsewhere(db_url, "revoke_key(led, keys['admin'], keys['pipeline'].public.key_id, reason='leaked')")
    revoked_at = ledger.head().size - 1
    before = table_bytes(engine)
    with pytest.raises(InputError, match=f"was revoked at entry {revoked_at}: leaked"):
        ledger.append(docs(eval_record(suite="after")), signing_key=keys.pipeline)
    assert table_bytes(engine) == before


def test_a_key_trusted_by_another_process_is_accepted_at_the_next_append(ledger: Ledger, keys, db_url) -> None:
    ledger.append(docs(eval_record(suite="before")), signing_key=keys.pipeline)  # the cache knows no stranger
    with pytest.raises(InputError, match="is not trusted in this ledger"):
        ledger.append(docs(eval_record(suite="early")), signing_key=keys.stranger)
    _elsewhere(db_url, "trust_key(led, keys['admin'], keys['stranger'].public, role='pipeline', owner='new ci')")
    (out,) = ledger.append(docs(eval_record(suite="after")), signing_key=keys.stranger)
    assert out.seq == ledger.head().size - 1
