"""A realistic ledger and one audit package built from it, shared by the package tests.

Building a package renders a PDF (seconds), so the ledger and its package are
made once per session on SQLite; tests copy and tamper with the bytes. Times are
fixed (``now=`` at append is the entry's received_at), so the package is the
same on every run apart from the manifest's signing time.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controls.graph import load_graph
from ledger import migrate
from ledger.checkpoint import Checkpoint
from ledger.checkpoints import issue_checkpoint
from ledger.db import make_engine
from ledger.dsse import sign_envelope
from ledger.keys import PrivateKey
from ledger.store import Ledger, init_ledger, revoke_key, trust_key
from reports.manifest import MANIFEST_TYPE
from reports.package import PackageResult, build_package
from tests.conftest import (
    Keys,
    docs,
    eval_record,
    fixed_key,
    model_version_record,
    system_record,
)

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
AS_OF = T0 + 30 * H
SIGNED_AT = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def populate(led: Ledger, keys: Keys) -> dict[str, Any]:
    """System, model version, evaluations, documents, an exception with approvals (one a
    self-approval), an incident, an org-wide policy, a retraction, a revoked key, two
    checkpoints, and a record received after AS_OF. Returns checkpoint notes by name."""
    init_ledger(led.engine, keys.admin, origin="test.example/ledger", now=T0)
    for key, role, owner in ((keys.pipeline, "pipeline", "ci"), (keys.approver, "approver", "RAI lead"),
                             (keys.approver2, "approver", "Head of Risk"), (keys.auditor, "auditor", "auditor")):
        trust_key(led, keys.admin, key.public, role=role, owner=owner, now=T0)

    def put(key: PrivateKey, at: dt.datetime, *records: dict[str, Any]) -> list[Any]:
        return led.append(docs(*records), signing_key=key, now=at)

    put(keys.admin, T0 + H, system_record(), system_record("other-system", name="Other"))
    (mv,) = put(keys.pipeline, T0 + 2 * H, {
        "kind": "model_version", "system": "credit-scoring", "observed_at": iso(T0 + 2 * H),
        "version": "2.1.0", "artifact_sha256": "ab" * 32})
    put(keys.pipeline, T0 + 2 * H, model_version_record("other-system", observed_at=iso(T0 + 2 * H)))
    put(keys.pipeline, T0 + 3 * H,
        eval_record(observed_at=iso(T0 + 3 * H)),
        eval_record(suite="performance", observed_at=iso(T0 + 3 * H), metrics={"auc": 0.8}, thresholds={}),
        eval_record(suite="robustness", observed_at=iso(T0 + 3 * H), passed=False),
        eval_record(system="other-system", observed_at=iso(T0 + 3 * H)))
    (doc,) = put(keys.pipeline, T0 + 4 * H, {
        "kind": "document", "system": "credit-scoring", "observed_at": iso(T0 + 4 * H),
        "doc_type": "model_card", "title": "Model card 2.1", "model_version": "2.1.0"})
    put(keys.pipeline, T0 + 5 * H, {"kind": "retract", "system": "credit-scoring", "observed_at": iso(T0 + 5 * H),
                                    "target": doc.entry_hash, "reason": "wrong model card attached"})
    put(keys.admin, T0 + 6 * H, {"kind": "document", "system": "*", "observed_at": iso(T0 + 6 * H),
                                 "doc_type": "policy", "title": "AI policy", "controls": ["GOV-14"]})
    cp1 = issue_checkpoint(led.engine, keys.admin, now=T0 + 6 * H)
    (exc,) = put(keys.approver, T0 + 7 * H, {
        "kind": "exception", "system": "credit-scoring", "observed_at": iso(T0 + 7 * H),
        "controls": ["EVAL-ROBUST-01"], "rationale": "noise is lower in production",
        "compensating_controls": ["OPS-MONITOR-01"], "owner": "Head of Risk",
        "expires_at": iso(T0 + 40 * 24 * H), "remediation": "retrain with augmentation"})
    for key in (keys.approver, keys.approver2):  # the first is a self-approval: not counted
        put(key, T0 + 8 * H, {"kind": "approval", "system": "credit-scoring", "observed_at": iso(T0 + 8 * H),
                              "target": exc.entry_hash, "decision": "approve"})
    for key in (keys.approver, keys.approver2):
        put(key, T0 + 9 * H, {"kind": "approval", "system": "credit-scoring", "observed_at": iso(T0 + 9 * H),
                              "target": mv.entry_hash, "decision": "approve"})
    put(keys.pipeline, T0 + 10 * H, {
        "kind": "incident", "system": "credit-scoring", "observed_at": iso(T0 + 10 * H), "title": "Drift alert",
        "severity": "medium", "status": "mitigated", "model_version": "2.1.0",
        "description": "<script>alert('x')</script> & input drift"})
    revoke_key(led, keys.admin, keys.auditor.public.key_id, reason="left the company", now=T0 + 11 * H)
    cp2 = issue_checkpoint(led.engine, keys.admin, now=T0 + 11 * H)
    put(keys.pipeline, AS_OF + H, eval_record(observed_at=iso(AS_OF + H), passed=False))  # after as-of
    return {"cp1": cp1, "cp2": cp2}


@dataclass
class World:
    """A ledger on SQLite and the package built from it."""

    db_url: str
    keys: Keys
    checkpoints: dict[str, tuple[Checkpoint, str]]
    result: PackageResult
    dir: Path

    @property
    def package(self) -> bytes:
        return self.result.data


@pytest.fixture(scope="session")
def keys_s() -> Keys:
    return Keys(*(fixed_key(n) for n in ("admin", "pipeline", "approver", "approver2", "auditor", "stranger")))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, keys_s: Keys) -> World:
    d = tmp_path_factory.mktemp("world")
    url = f"sqlite:///{d / 'ledger.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    cps = populate(Ledger(engine), keys_s)
    result = build_package(engine, "credit-scoring", admin_key=keys_s.admin, graph=load_graph(user_dir=None),
                           as_of=AS_OF, now=SIGNED_AT)
    engine.dispose()
    (d / "keys").mkdir()
    for name in ("admin", "stranger"):
        key = getattr(keys_s, name)
        (d / "keys" / f"{name}.pem").write_bytes(key.to_pem())
        (d / "keys" / f"{name}.pem.pub").write_bytes(key.public.to_pem())
    for name, (_, note) in cps.items():
        (d / f"{name}.txt").write_text(note)
    return World(url, keys_s, cps, result, d)


@pytest.fixture
def db_copy(world: World, tmp_path: Path) -> str:
    """A private copy of the world's database (for tests that append or build again)."""
    path = tmp_path / "ledger.db"
    shutil.copy(Path(world.db_url.removeprefix("sqlite:///")), path)
    return f"sqlite:///{path}"


# ------------------------------------------------------------------ tampering helpers


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def resign(files: dict[str, bytes], key: PrivateKey) -> dict[str, bytes]:
    """Recompute the manifest's hashes and sign it with ``key`` (an insider or a forger)."""
    import base64
    import hashlib

    from ledger.canonical import canonical_json

    env = json.loads(files["manifest.json"])
    payload = json.loads(base64.b64decode(env["payload"]))
    for name, entry in payload["files"].items():
        entry["sha256"] = hashlib.sha256(files[name]).hexdigest()
        entry["size"] = len(files[name])
    payload["key"] = {"id": key.public.key_id, "public_key": key.public.to_b64()}
    signed = sign_envelope(MANIFEST_TYPE, canonical_json(payload), key)
    return files | {"manifest.json": signed.to_text().encode()}


def edit_bundle(files: dict[str, bytes], change: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    bundle = json.loads(files["bundle.json"])
    change(bundle)
    return files | {"bundle.json": json.dumps(bundle, indent=1, sort_keys=True).encode() + b"\n"}


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes], Path]:
    def _write(data: bytes, name: str = "pkg.zip") -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p

    return _write
