"""Private keys: written 0600, usable with a passphrase, never printed or logged, never stored.

The logging check runs the real ``assure`` executable with ``-v`` (INFO logs,
SQL statements and their parameters included, and a traceback on error) and
looks for the passphrase, the PEM text and the 32-byte seed in every form we
can think of. The storage check scans every row of every table.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.keys import load_private_key

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple 7781"


def _assure() -> list[str]:
    exe = shutil.which("assure", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-c", "from cli.main import cli; cli(prog_name='assure')"]


def secret_forms(pem_path: Path) -> dict[str, bytes]:
    """Every form of a private key that must never be shown or stored, by name."""
    key = load_private_key(pem_path, passphrase=PASSPHRASE.encode())
    pem = pem_path.read_bytes()
    body = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    seed = key.seed
    forms = {
        "passphrase": PASSPHRASE.encode(),
        "PEM header": b"PRIVATE KEY",
        "seed": seed,
        "seed hex": seed.hex().encode(),
        "seed HEX": seed.hex().upper().encode(),
        "seed base64": base64.b64encode(seed).rstrip(b"="),
        "seed base64url": base64.urlsafe_b64encode(seed).rstrip(b"="),
        "seed+public (libsodium secret key) hex": (seed + key.public.raw).hex().encode(),
        "unencrypted PEM body": b"".join(
            line for line in key.to_pem().splitlines() if not line.startswith(b"-----")
        )[16:60],
    }
    forms |= {f"PEM line {i}": line for i, line in enumerate(body)}
    return forms


def _leaks(blob: bytes, forms: dict[str, bytes]) -> list[str]:
    return [name for name, secret in forms.items() if secret in blob]


@pytest.fixture
def keydir(tmp_path: Path, run_cli) -> Iterator[Path]:
    """admin.pem and pipeline.pem, passphrase-protected, made by 'assure keys generate' under umask 000."""
    old = os.umask(0)
    try:
        for name in ("admin", "pipeline"):
            r = run_cli("keys", "generate", "--out", f"keys/{name}.pem", "--passphrase-env", "PASS",
                        env={"PASS": PASSPHRASE})
            assert r.exit_code == 0, r.output
            assert not _leaks(r.output.encode(), secret_forms(tmp_path / "keys" / f"{name}.pem"))
    finally:
        os.umask(old)
    yield tmp_path / "keys"


def test_private_key_files_are_0600_encrypted_and_never_overwritten(keydir: Path, run_cli) -> None:
    for name in ("admin", "pipeline"):
        mode = stat.S_IMODE((keydir / f"{name}.pem").stat().st_mode)
        assert mode == 0o600, f"{name}.pem has mode {mode:o} under umask 000"
        assert (keydir / f"{name}.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert (keydir / f"{name}.pem.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    before = (keydir / "admin.pem").read_bytes()
    r = run_cli("keys", "generate", "--out", "keys/admin.pem")
    assert r.exit_code == 2 and "refusing to overwrite" in r.stderr
    assert (keydir / "admin.pem").read_bytes() == before


def test_passphrase_protected_keys_work_and_need_their_passphrase(keydir: Path, db_url: str, run_cli) -> None:
    r = run_cli("init", "--admin-key", "keys/admin.pem", "--origin", "test.example/keys", db=db_url)
    assert r.exit_code == 2 and "key is encrypted: give its passphrase" in r.stderr
    r = run_cli("init", "--admin-key", "keys/admin.pem", db=db_url, env={"ASSURE_KEY_PASSPHRASE": "wrong"})
    assert r.exit_code == 2 and "wrong passphrase" in r.stderr
    assert not _leaks(r.output.encode(), secret_forms(keydir / "admin.pem"))
    r = run_cli("init", "--admin-key", "keys/admin.pem", "--origin", "test.example/keys", db=db_url,
                env={"ASSURE_KEY_PASSPHRASE": PASSPHRASE})
    assert r.exit_code == 0, r.output


def test_verbose_runs_log_no_key_material_and_the_database_holds_none(keydir: Path, db_url: str,
                                                                      tmp_path: Path, run_cli) -> None:
    pass_env = {"ASSURE_KEY_PASSPHRASE": PASSPHRASE}
    assert run_cli("init", "--admin-key", "keys/admin.pem", "--origin", "test.example/keys",
                   db=db_url, env=pass_env).exit_code == 0
    assert run_cli("keys", "trust", "keys/pipeline.pem.pub", "--role", "pipeline", "--owner", "ci",
                   "--key", "keys/admin.pem", db=db_url, env=pass_env).exit_code == 0
    (tmp_path / "eval.yaml").write_text(
        "kind: document\nsystem: '*'\nobserved_at: 2026-11-02T09:00:00Z\ndoc_type: policy\ntitle: AI policy\n"
    )
    (tmp_path / "broken.yaml").write_text("kind: evaluation\nsuite: [\n")
    env = os.environ | {"ASSURE_DB": db_url, "PASS": PASSPHRASE, "PYTHONPATH": str(REPO)}

    def verbose(*args: str, ok: bool) -> bytes:
        p = subprocess.run([*_assure(), "-v", *args, "--key", "keys/pipeline.pem", "--passphrase-env", "PASS"],
                           cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert (p.returncode == 0) == ok, p.stderr.decode()
        return p.stdout + p.stderr

    output = verbose("append", "eval.yaml", "--checkpoint-key", "keys/admin.pem", "--json", ok=True)
    output += verbose("append", "broken.yaml", ok=False)  # -v shows the traceback
    assert b"INFO" in output and b"Traceback" in output  # the verbose paths really ran
    forms = {f"{name}: {what}": secret for name in ("admin", "pipeline")
             for what, secret in secret_forms(keydir / f"{name}.pem").items()}
    assert not _leaks(output, forms)

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            assert {"entry", "payload", "key_registry", "checkpoint"} <= set(tables)
            assert conn.exec_driver_sql("SELECT count(*) FROM checkpoint").scalar_one() == 1
            for table in tables:
                for row in conn.exec_driver_sql(f"SELECT * FROM {table}"):
                    blob = b"\0".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                    assert not _leaks(blob, forms), f"key material in table {table}: {row}"
    finally:
        engine.dispose()
