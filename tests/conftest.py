"""Shared fixtures: a fresh migrated database per test on SQLite and PostgreSQL.

The schema is made only by Alembic (``upgrade head``), never ``create_all``. The
PostgreSQL server is the throwaway one ``make test`` starts
(scripts/with-postgres.sh sets ASSURE_TEST_PG_URL). Without it the PostgreSQL
variants are skipped, except under CI, where that is an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from ledger import migrate
from ledger.checkpoints import recompute_frontier
from ledger.db import make_engine
from ledger.entry import GENESIS_PREV_HASH
from ledger.ingest import Document
from ledger.keys import PrivateKey
from ledger.store import Ledger, init_ledger, trust_key

PG_URL = os.environ.get("ASSURE_TEST_PG_URL")
# The framework library's disk cache goes to a throwaway directory, never the user's ~/.cache.
os.environ.setdefault("ASSURE_CACHE_DIR", tempfile.mkdtemp(prefix="assure-test-cache-"))
BACKENDS = ["sqlite", "postgresql"]
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_URL or "", isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("ASSURE_TEST_PG_URL is not set: run the tests through 'make test'")
        pytest.skip("no PostgreSQL (run 'make test' to start one)")
    name = f"assure_tmpl_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = make_engine(_pg_db_url(name))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def _pg_db_url(name: str) -> str:
    assert PG_URL
    return PG_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, migrated, empty ledger database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("_pg_template")
    name = f"assure_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _pg_db_url(name)
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    e = make_engine(db_url)
    yield e
    e.dispose()


def fixed_key(name: str) -> PrivateKey:
    """A deterministic key per name, so golden values are reproducible."""
    return PrivateKey(hashlib.sha256(b"assure-test-key:" + name.encode()).digest())


@dataclass
class Keys:
    admin: PrivateKey
    pipeline: PrivateKey
    approver: PrivateKey
    approver2: PrivateKey
    auditor: PrivateKey
    stranger: PrivateKey


@pytest.fixture
def keys() -> Keys:
    return Keys(*(fixed_key(n) for n in ("admin", "pipeline", "approver", "approver2", "auditor", "stranger")))


def system_record(system: str = "credit-scoring", **over: Any) -> dict[str, Any]:
    rec = {
        "kind": "system",
        "system": system,
        "observed_at": "2026-11-01T09:00:00Z",
        "name": "Credit scoring",
        "owner": "Risk Analytics",
        "purpose": "Scores consumer credit applications",
        "risk_tier": "high",
        "eu_class": "high_risk_annex_iii",
        "eu_role": "provider",
    }
    return rec | over


def model_version_record(system: str = "credit-scoring", version: str = "2.1.0", **over: Any) -> dict[str, Any]:
    rec = {
        "kind": "model_version",
        "system": system,
        "observed_at": "2026-11-01T09:00:00Z",
        "version": version,
        "artifact_sha256": hashlib.sha256(f"{system}@{version}".encode()).hexdigest(),
    }
    return rec | over


def eval_record(system: str = "credit-scoring", **over: Any) -> dict[str, Any]:
    rec = {
        "kind": "evaluation",
        "system": system,
        "observed_at": "2026-11-02T09:00:00Z",
        "model_version": "2.1.0",
        "suite": "fairness",
        "metrics": {"demographic_parity_gap": 0.031, "auc": 0.81},
        "thresholds": {"demographic_parity_gap": {"max": 0.05}},
        "passed": True,
    }
    return rec | over


def docs(*records: dict[str, Any]) -> list[Document]:
    return [Document(f"test[{i}]", r) for i, r in enumerate(records)]


@pytest.fixture
def ledger(engine: sa.Engine, keys: Keys) -> Ledger:
    """An initialised ledger with pipeline, approver and auditor keys, one system and its model version 2.1.0."""
    return seed_ledger(engine, keys)


def seed_ledger(engine: sa.Engine, keys: Keys) -> Ledger:
    """What the ``ledger`` fixture holds, on ``engine`` (the same entries, byte for byte, on either backend)."""
    init_ledger(engine, keys.admin, origin="test.example/ledger", now=T0)
    led = Ledger(engine)
    for key, role, owner in ((keys.pipeline, "pipeline", "ci"), (keys.approver, "approver", "RAI lead"),
                             (keys.approver2, "approver", "Head of Risk"), (keys.auditor, "auditor", "auditor")):
        trust_key(led, keys.admin, key.public, role=role, owner=owner, now=T0)
    led.append(docs(system_record()), signing_key=keys.admin, now=T0)
    led.append(docs(model_version_record()), signing_key=keys.pipeline, now=T0)
    return led


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., Result]:
    """Invoke the ``assure`` CLI in-process in tmp_path; returns the click Result."""
    from cli.main import cli

    def run(*args: str, db: str | None = None, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        full_env = {"ASSURE_DB": db} if db else {}
        full_env |= env or {}
        old = os.getcwd()
        os.chdir(tmp_path)
        try:
            return runner.invoke(cli, list(args), input=input, env=full_env, catch_exceptions=False)
        finally:
            os.chdir(old)

    return run


def table_bytes(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table, for byte-for-byte 'nothing changed' checks."""
    out = {}
    with engine.connect() as c:
        for t in ("entry", "payload", "ledger_head", "tree_node", "record", "record_control", "entry_signer",
                  "key_registry", "key_revocation", "checkpoint"):
            out[t] = sorted(c.exec_driver_sql(f"SELECT * FROM {t}").fetchall(), key=repr)
    return out


def drop_append_only_triggers(conn: sa.Connection) -> None:
    """Let ``conn`` update and delete entries and payloads, as an attacker with the database could."""
    if conn.dialect.name == "sqlite":
        for t in ("entry", "payload"):
            for a in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_{a}")
    else:
        conn.exec_driver_sql("ALTER TABLE entry DISABLE TRIGGER USER")
        conn.exec_driver_sql("ALTER TABLE payload DISABLE TRIGGER USER")


def cut_tail(conn: sa.Connection, keep: int) -> None:
    """Delete entries from ``keep`` on behind the ledger's back, with the rows derived from them,
    and make the head match, as restoring an old backup would (append-only triggers must be off)."""
    conn.execute(sa.text("DELETE FROM entry WHERE seq >= :k"), {"k": keep})
    for table in ("record", "record_control", "entry_signer"):
        conn.execute(sa.text(f"DELETE FROM {table} WHERE seq >= :k"), {"k": keep})
    conn.execute(sa.text("DELETE FROM tree_node WHERE ((idx + 1) << CAST(level AS INTEGER)) > :k"), {"k": keep})
    fr = recompute_frontier(conn, keep)
    last = conn.execute(sa.text("SELECT entry_hash FROM entry WHERE seq = :s"), {"s": keep - 1}).scalar()
    conn.execute(sa.text("UPDATE ledger_head SET size = :n, root = :r, last_hash = :h, frontier = :f"),
                 {"n": keep, "r": fr.root(), "h": last or GENESIS_PREV_HASH, "f": fr.to_bytes()})


def append_behind_the_back(conn: sa.Connection, key: PrivateKey, *, suite: str = "behind", received_at: str,
                           record: dict[str, Any] | None = None, project: bool = False,
                           claim_key_id: str | None = None) -> int:
    """A perfectly chained evaluation entry signed by ``key``, written straight into the tables
    with the head updated too (and, with ``project``, its ``record`` row), as someone with database
    access could; ``claim_key_id`` puts another key's id on the signature. Returns its seq.

    With ``record``, the entry holds that record's canonical bytes instead, unvalidated: what a
    ledger written before a rule existed may hold, or what append would refuse."""
    from ledger.canonical import canonical_json
    from ledger.dsse import sign_envelope
    from ledger.entry import Leaf, entry_hash, idempotency_key
    from ledger.merkle import leaf_hash
    from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
    from ledger.store import read_head

    head = read_head(conn)
    assert head is not None
    payload = canonical_json(record) if record else record_bytes(parse_record(eval_record(suite=suite)))
    kind = record["kind"] if record else "evaluation"
    env = sign_envelope(PAYLOAD_TYPE, payload, key)
    if claim_key_id is not None:
        from ledger.dsse import Envelope, Signature

        env = Envelope(env.payload_type, env.payload, (Signature(claim_key_id, env.signatures[0].sig),))
    sha = hashlib.sha256(env.payload).hexdigest()
    idem = idempotency_key(sha, [s.keyid for s in env.signatures])
    leaf = Leaf(head.origin, head.size, kind, sha, PAYLOAD_TYPE, env.signatures, idem, received_at).to_bytes()
    h = entry_hash(head.last_hash, leaf)
    conn.execute(sa.text("INSERT INTO payload (sha256, payload_type, body) VALUES (:k, :t, :b)"),
                 {"k": sha, "t": PAYLOAD_TYPE, "b": env.payload})
    conn.execute(sa.text("INSERT INTO entry (seq, entry_hash, prev_hash, leaf, payload_sha256, idem_key) "
                         "VALUES (:s, :h, :p, :l, :k, :i)"),
                 {"s": head.size, "h": h, "p": head.last_hash, "l": leaf, "k": sha, "i": idem})
    fr = head.frontier.copy()
    fr.append(leaf_hash(leaf))
    conn.execute(sa.text("UPDATE ledger_head SET size = :n, root = :r, last_hash = :h, frontier = :f"),
                 {"n": fr.size, "r": fr.root(), "h": h, "f": fr.to_bytes()})
    if project:
        from ledger.canonical import parse_json
        from ledger.models import Record
        from ledger.projection import projection_row
        from ledger.registry import KeyState

        signer = KeyState(key.public.key_id, key.public.raw, "approver", "?", 0, dt.datetime.now(dt.UTC))
        at = dt.datetime.fromisoformat(received_at)
        fields = parse_json(payload)
        conn.execute(sa.insert(Record), projection_row(fields, seq=head.size, entry_hash=h, received_at=at,
                                                       signer=signer))
    return head.size
