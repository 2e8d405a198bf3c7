"""A package is whatever zip someone hands the auditor: a zip bomb or a zip of many members fails fast and small."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from tests.reports.conftest import unzip

SCRIPT = "import sys; from cli.main import cli; sys.exit(cli(prog_name='assure'))"


def _verify(zip_path: Path, pub: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run verify-package in a fresh process: (result, seconds, peak RSS of that process in MiB)."""
    probe = ("import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
             " print(json.dumps([r.returncode, r.stdout, r.stderr,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-c", SCRIPT, "verify-package", str(zip_path),
                          "--trust-key", str(pub)], capture_output=True, text=True, timeout=120, check=True)
    seconds = time.perf_counter() - started
    code, stdout, stderr, maxrss_kib = json.loads(out.stdout)
    return subprocess.CompletedProcess([], code, stdout, stderr), seconds, maxrss_kib // 1024


def test_a_zip_bomb_fails_within_seconds_in_bounded_memory(world, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("manifest.json", unzip(world.package)["manifest.json"])
        with z.open("bundle.json", "w", force_zip64=True) as f:  # 1.1 GB of zeros in ~5 MB
            chunk = b"\0" * (1 << 24)
            for _ in range(66):
                f.write(chunk)
    assert bomb.stat().st_size < 6 << 20
    result, seconds, peak_mib = _verify(bomb, world.dir / "keys/admin.pem.pub")
    assert result.returncode == 1, result.stderr
    assert "bundle.json expands past 20 times its compressed size: a zip bomb" in result.stderr
    assert seconds < 20, f"took {seconds:.1f} s"
    assert peak_mib < 400, f"peak RSS {peak_mib} MiB"
    assert "Traceback" not in result.stderr


def test_a_zip_of_many_members_is_not_read(world, tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(5000):
            z.writestr(f"f{i}", b"x")
    result, seconds, _ = _verify(many, world.dir / "keys/admin.pem.pub")
    assert result.returncode == 1 and "holds 5000 members; a package holds 3" in result.stderr
    assert seconds < 20
