"""YAML 1.1 surprises: a plain scalar YAML 1.1 and YAML 1.2 read differently is refused, naming
its line and value; numbers written as in JSON (``1e21`` too) are read as YAML 1.2 reads them.

PyYAML alone reads ``012`` as 10, ``yes``/``on`` as true, ``1:30`` as 90 and
``1_000`` as 1000, and ``1e21`` as text. Each case below is a record file a
careless user (or a tool writing YAML 1.2) might hand over: it must be refused
with exit 2, the file, line and value named, and nothing written, on SQLite and
PostgreSQL; the unambiguous spellings must be appended with the value meant.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import eval_record
from tests.reliability.conftest import Bad, Target

# (the line to replace, its key, the value written instead, what YAML 1.1 reads, what YAML 1.2 reads)
AMBIGUOUS = [
    ("  auc: 0.81", "  auc", "012", "10", "12"),
    ("  auc: 0.81", "  auc", "0777", "511", "777"),
    ("  auc: 0.81", "  auc", "08", '"08"', "8"),
    ("  auc: 0.81", "  auc", "1_000", "1000", '"1_000"'),
    ("  auc: 0.81", "  auc", "1:30", "90", '"1:30"'),
    ("  auc: 0.81", "  auc", "0b11", "3", '"0b11"'),
    ("  auc: 0.81", "  auc", "0o17", '"0o17"', "15"),
    ("  auc: 0.81", "  auc", "012e3", '"012e3"', "12000.0"),
    ("passed: true", "passed", "yes", "true", '"yes"'),
    ("passed: true", "passed", "On", "true", '"On"'),
    ("passed: true", "passed", "NO", "false", '"NO"'),
    ("suite: fairness", "suite", "off", "false", '"off"'),
    ("model_version: 2.1.0", "model_version", "0123", "83", "123"),
]


def _yaml_with(old: str, new: str) -> tuple[str, int]:
    """The default evaluation record as block YAML with line ``old`` replaced; and that line's number."""
    lines = yaml.safe_dump(eval_record()).splitlines()
    i = lines.index(old)
    lines[i] = new
    return "\n".join(lines) + "\n", i + 1


@pytest.mark.parametrize("old, key, value, yaml11, yaml12", AMBIGUOUS, ids=[a[2] for a in AMBIGUOUS])
def test_ambiguous_scalars_are_refused(target: Target, old: str, key: str, value: str, yaml11: str,
                                       yaml12: str) -> None:
    text, line = _yaml_with(old, f"{key}: {value}")
    reason = (rf"invalid YAML at line {line} column {len(key) + 3}: '{re.escape(value)}' is ambiguous: "
              rf"YAML 1\.1 reads it as {re.escape(yaml11)}, YAML 1\.2 as {re.escape(yaml12)}; quote it if it is text")
    target.refuse(Bad("r.yaml", text.encode(), reason))


def test_ambiguous_mapping_key_is_refused(target: Target) -> None:
    text, line = _yaml_with("  auc: 0.81", "  on: 0.81")
    target.refuse(Bad("r.yaml", text.encode(), rf"line {line} column 3: 'on' is ambiguous: YAML 1\.1 reads it as true"))


@pytest.mark.parametrize("new, shown", [("  auc: 0x1F", "31"), ("  auc: 00.81", "0.81")])
def test_numbers_not_written_as_json_writes_them(target: Target, new: str, shown: str) -> None:
    text, line = _yaml_with("  auc: 0.81", new)
    reason = rf"line {line} column \d+: '{re.escape(new.split(': ')[1])}' is not a number as JSON writes it .*write {shown}"
    target.refuse(Bad("r.yaml", text.encode(), reason))


def test_ambiguous_scalar_on_standard_input(target: Target) -> None:
    text, line = _yaml_with("passed: true", "passed: yes")
    result = target.run_cli("append", "-", "--key", "pipeline.pem", db=target.db_url, input=text)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: <stdin>: invalid YAML at line {line} column 9: 'yes' is ambiguous")


@pytest.mark.parametrize("new, stored", [
    ("  auc: 8.1e-1", b'"auc":0.81'),  # a number to both
    ("  auc: 81e-2", b'"auc":0.81'),  # YAML 1.1: the text "81e-2"; YAML 1.2 and JSON: 0.81
    ("  auc: 1e3", b'"auc":1000'),
    ("  auc: +0.5", b'"auc":0.5'),
    ("  auc: .5", b'"auc":0.5'),
    ("  auc: '012'", None),  # quoted: text, refused by the field's type below
])
def test_unambiguous_spellings_are_read_as_yaml_1_2_reads_them(target: Target, new: str, stored: bytes | None) -> None:
    text, _ = _yaml_with("  auc: 0.81", new)
    (target.directory / "r.yaml").write_text(text.replace("passed: true", "passed: True"))
    result = target.run_cli("append", "r.yaml", "--key", "pipeline.pem", db=target.db_url)
    if stored is None:
        assert result.exit_code == 2 and "field 'metrics.auc'" in result.stderr, result.output
        return
    assert result.exit_code == 0, result.output
    with target.ledger.engine.connect() as c:
        bodies = [bytes(b) for (b,) in c.exec_driver_sql("SELECT body FROM payload").fetchall()]
    assert sum(stored + b"," in b and b'"passed":true' in b for b in bodies) == 1, bodies[-1]
    assert json.loads(bodies[-1])["suite"] == "fairness"
