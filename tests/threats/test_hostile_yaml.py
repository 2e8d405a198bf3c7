"""Whoever hands Assure a YAML file (a pipeline's records, a colleague's framework file, a
CISO Assistant or OSCAL library found online) may send an alias bomb: nine lines whose
aliases stand for a billion strings. Each reader refuses it at once, naming the file, with
exit 2 and nothing written; before, the imports ran until killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controls.graph import load_graph
from frameworks.errors import FrameworkLoadError
from ledger.yaml_limits import EXPANDED_NODES

ASSURE = str(Path(sys.executable).with_name("assure"))
LAUGHS = "".join(f"{x}: &{x} [{', '.join([f'*{p}'] * 10 if p else ['lol'] * 10)}]\n"
                 for p, x in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSURE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([ASSURE, *args], check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)


@pytest.mark.parametrize(("tool", "document"), [
    ("oscal", LAUGHS + 'catalog: {uuid: "x", metadata: {title: t, version: "1"}, groups: *i}\n'),
    ("ciso-assistant", LAUGHS + "urn: x\nobjects: {framework: {urn: y, ref_id: z, name: n, requirement_nodes: *i}}\n"),
])
def test_an_alias_bomb_in_an_import_is_refused_at_once(tmp_path: Path, tool: str, document: str) -> None:
    bomb = tmp_path / "library.yaml"
    bomb.write_text(document)
    out = _run(tmp_path, "frameworks", "import", tool, str(bomb), "-o", str(tmp_path / "out.yaml"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(bomb) in out.stderr and "expand to more than" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_an_alias_bomb_among_records_is_refused_and_nothing_is_appended(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert _run(tmp_path, "keys", "generate", "--out", str(tmp_path / "admin.pem")).returncode == 0
    assert _run(tmp_path, "--db", db, "init", "--origin", "bomb.example/ledger", "--admin-key",
                str(tmp_path / "admin.pem")).returncode == 0
    before = _run(tmp_path, "--db", db, "log", "--json").stdout
    records = tmp_path / "records.yaml"
    records.write_text(LAUGHS + "kind: document\nsystem: '*'\nobserved_at: '2026-11-01T00:00:00Z'\n"
                                "doc_type: policy\ntitle: t\ncontrols: *i\n")
    out = _run(tmp_path, "--db", db, "append", str(records), "--key", str(tmp_path / "admin.pem"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(records) in out.stderr and "expand to more than" in out.stderr and "Traceback" not in out.stderr
    assert _run(tmp_path, "--db", db, "log", "--json").stdout == before


def test_an_alias_bomb_in_a_user_framework_file_is_a_framework_error(tmp_path: Path) -> None:
    user = tmp_path / "frameworks"
    user.mkdir()
    (user / "bomb.yaml").write_text(LAUGHS + "format: assure-framework/1\nframework: *i\n")
    with pytest.raises(FrameworkLoadError, match="expand to more than"):
        load_graph(user_dir=user)


def test_anchors_within_the_bound_still_read() -> None:
    assert EXPANDED_NODES >= 1_000_000
    load_graph(user_dir=None)  # the built-in EU AI Act file repeats dates through anchors
