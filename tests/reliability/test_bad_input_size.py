"""Size limits: standard input is capped like a file, and YAML near its cap is handled in seconds.

Before: ``assure append -`` read all of standard input, a path such as
/dev/zero (size 0 to ``stat``) was read without end, and a 33 MB YAML flow list
of integers took over 180 s and 3.2 GB. Now at most MAX_FILE_BYTES + 1 bytes are
read from any input, and YAML over MAX_YAML_BYTES is refused before parsing,
with a message pointing to JSON Lines.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger import ingest
from ledger.errors import InputError
from tests.conftest import eval_record, table_bytes
from tests.reliability.conftest import Bad, Target

REPO = Path(__file__).resolve().parents[2]

# Runs ``assure ARGS...`` in a fresh interpreter and reports its own peak memory: VmHWM, the high-water
# mark of this process's memory since exec (ru_maxrss may carry over the forking test process's figure).
_CHILD = """
import re, sys
from cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="assure")
finally:
    with open("/proc/self/status") as f:
        sys.stderr.write("\\npeak-rss-kib " + re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1) + "\\n")
"""


def _flow_list(n_bytes: int) -> bytes:
    """``[1,1,1,...]``: the densest YAML there is (two bytes per node), at most ``n_bytes`` long."""
    return b"[" + b"1," * ((n_bytes - 3) // 2) + b"1]"


class _Endless(io.RawIOBase):
    """A stream that never ends, counting what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"{" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


NEAR_CAP = {  # the densest input of each kind, just under the cap that applies to it
    "big.yaml": lambda: _flow_list(ingest.MAX_YAML_BYTES),
    "big.jsonl": lambda: b"{}\n" * (ingest.MAX_FILE_BYTES // 3),
    "big.json": lambda: _flow_list(ingest.MAX_FILE_BYTES),
}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
@pytest.mark.parametrize("name", sorted(NEAR_CAP))
def test_dense_input_just_under_its_cap_is_handled_in_seconds_and_bounded_memory(target: Target, name: str) -> None:
    """The slow case of the issue (YAML: 180 s and 3.2 GB at 33 MB; a dense JSON or JSON Lines file of
    64 MiB took 53-63 s and 6.7-7.3 GB) at the largest size still read, through the CLI in its own process."""
    (target.directory / name).write_bytes(NEAR_CAP[name]())
    (target.directory / "pipeline.pem").write_bytes(target.keys.pipeline.to_pem())
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "--db", target.db_url, "append", name, "--key", "pipeline.pem"],
        check=False, cwd=target.directory, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    elapsed = time.perf_counter() - start
    peak_mib = int(proc.stderr.rsplit("peak-rss-kib ", 1)[1]) / 1024
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"Error: {name}: holds more than 100,000 records or envelopes"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert peak_mib < 800, f"peak {peak_mib:.0f} MiB"
    print(f"{name}: {elapsed:.1f} s, peak RSS {peak_mib:.0f} MiB")
    assert table_bytes(target.ledger.engine) == target.baseline


@pytest.mark.parametrize("name, content", [
    ("r.json", json.dumps([eval_record(suite=f"s{i}") for i in range(11)]).encode()),
    ("r.jsonl", "".join(json.dumps(eval_record(suite=f"s{i}")) + "\n" for i in range(11)).encode()),
    ("r.yaml", json.dumps([eval_record(suite=f"s{i}") for i in range(11)]).encode()),
])
def test_more_documents_than_a_batch_holds_are_refused_before_they_are_built(
    target: Target, monkeypatch: pytest.MonkeyPatch, name: str, content: bytes
) -> None:
    monkeypatch.setattr(ingest, "MAX_DOCUMENTS", 10)
    target.refuse(Bad(name, content, "holds more than 10 records or envelopes, the most one batch may hold"))


def test_json_lines_are_split_at_line_feeds_only(target: Target) -> None:
    """U+2028 and U+0085 may stand raw inside a JSON string; a line holding one is one record, refused by field."""
    lines = [json.dumps(eval_record(suite="s1")), json.dumps(eval_record(suite="s2", notes="a\u2028b"), ensure_ascii=False)]
    target.refuse(Bad("r.jsonl", "\n".join(lines).encode(), r"r\.jsonl:2: field 'notes': U\+2028 \(line separator\)"))


def test_the_33_mb_flow_list_is_refused_at_once(target: Target) -> None:
    start = time.perf_counter()
    target.refuse(Bad("big.yaml", _flow_list(33 * 10**6),
                      r"YAML input is larger than 1 MiB \(32,999,999 bytes\): give large batches as JSON Lines"))
    assert time.perf_counter() - start < 10


def test_yaml_on_standard_input_has_the_yaml_cap(target: Target) -> None:
    text = b"- " + _flow_list(ingest.MAX_YAML_BYTES + 10)
    result = target.run_cli("append", "-", "--key", "pipeline.pem", db=target.db_url, input=text)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: <stdin>: YAML input is larger than 1 MiB")


def test_json_on_standard_input_is_read_as_json_beyond_the_yaml_cap(target: Target) -> None:
    records = [eval_record(suite=f"s{i}", notes="n" * 2000) for i in range(600)]  # > 1 MiB as one JSON array
    text = json.dumps(records).encode()
    assert len(text) > ingest.MAX_YAML_BYTES
    result = target.run_cli("append", "-", "--key", "pipeline.pem", db=target.db_url, input=text)
    assert result.exit_code == 0, result.output
    assert "appended 600 entries" in result.stdout


def test_broken_json_on_standard_input_beyond_the_yaml_cap_gets_the_json_error(target: Target) -> None:
    text = json.dumps([eval_record(suite=f"s{i}", notes="n" * 2000) for i in range(600)])[:-1] + ",]"
    result = target.run_cli("append", "-", "--key", "pipeline.pem", db=target.db_url, input=text)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: <stdin>: invalid JSON: Expecting value at line 1 column"), result.stderr


@pytest.mark.parametrize("command", ["append", "sign"])
def test_standard_input_over_the_cap_is_refused(target: Target, monkeypatch: pytest.MonkeyPatch,
                                                command: str) -> None:
    """A pipeline that pipes more than a file may hold gets the same refusal (the cap made small here)."""
    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 4096)
    lines = [json.dumps(eval_record(suite=f"s{i:03d}")).encode() + b"\n" for i in range(100)]
    text = b"".join(lines)[:4097]
    fits = b"".join(lines[: 4096 // len(lines[0])])
    result = target.run_cli(command, "-", "--key", "pipeline.pem", db=target.db_url, input=text)
    assert result.exit_code == 2, result.output
    assert result.stderr == "Error: <stdin>: is larger than 4,096 bytes\n"
    assert table_bytes(target.ledger.engine) == target.baseline
    ok = target.run_cli(command, "-", "--key", "pipeline.pem", db=target.db_url, input=fits)
    assert ok.exit_code == 0, ok.output


def test_an_endless_standard_input_is_read_only_up_to_the_cap() -> None:
    stream = _Endless()
    with pytest.raises(InputError, match=r"^<stdin>: is larger than 64 MiB$"):
        ingest.read_documents("-", stdin=io.BufferedReader(stream))
    assert stream.read_bytes <= ingest.MAX_FILE_BYTES + 1 + io.DEFAULT_BUFFER_SIZE


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_that_never_ends_is_refused(target: Target) -> None:
    """``stat`` says 0 bytes; the read is capped anyway."""
    result = target.run_cli("append", "/dev/zero", "--key", "pipeline.pem", db=target.db_url)
    assert result.exit_code == 2, result.output
    assert result.stderr == "Error: /dev/zero: is larger than 64 MiB\n"
    assert table_bytes(target.ledger.engine) == target.baseline
