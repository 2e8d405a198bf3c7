"""Control characters and bidi overrides in text fields: refused with the field named, the same
on SQLite and PostgreSQL (which refuses NUL in text columns), and never let through to a terminal.

Written as a pipeline owner would try it: a name with a line feed and a fake
table row after it, an owner with ESC sequences that clear the screen, a title
with a right-to-left override that makes "exe.txt" read "txt.exe", a NUL that
PostgreSQL cannot store. Single-line fields refuse all of them; multi-line prose
(notes, descriptions, an exception's rationale) keeps LF and TAB only.
Entries from before the rule (written here behind the ledger's back) still
print safely: every value is escaped in terminal output.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.output import echo_table
from cli.present import safe
from ledger.reindex import rebuild_projections
from ledger.text_rules import UNSAFE_CHARS
from tests.conftest import append_behind_the_back, eval_record, system_record
from tests.reliability.conftest import Bad, Target

EXAMPLES = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONTROLS = ["\x00", "\r", "\n", "\t", "\x1b", "\x07", "\x7f", "\x85", "\x9b", "\u2028", "\u2029",
            "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
MULTI_LINE_OK = {"\n", "\t"}
ARTIFACT = {"name": "model.onnx", "uri": "s3://models/model.onnx", "sha256": "0" * 64}

# field path -> a record (kind signed by the pipeline key or refused before any signer check) holding
# the value at that path. Single-line fields.
SINGLE_LINE: dict[str, Any] = {
    "name": lambda v: system_record("sys-x", name=v),
    "owner": lambda v: system_record("sys-x", owner=v),
    "purpose": lambda v: system_record("sys-x", purpose=v),
    "artifacts[0].name": lambda v: eval_record(artifacts=[ARTIFACT | {"name": v}]),
    "artifacts[0].uri": lambda v: eval_record(artifacts=[ARTIFACT | {"uri": v}]),
    "title": lambda v: {"kind": "document", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                        "doc_type": "model_card", "title": v},
    "commit": lambda v: {"kind": "model_version", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                         "version": "3.0.0", "artifact_sha256": "1" * 64, "commit": v},
    "reason": lambda v: {"kind": "retract", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                         "target": "2" * 64, "reason": v},
    "conditions[0]": lambda v: {"kind": "approval", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                                "target": "2" * 64, "decision": "approve", "conditions": [v]},
    "risks[0].description": lambda v: {"kind": "risk_assessment", "system": "credit-scoring",
                                       "observed_at": "2026-11-02T09:00:00Z", "risk_tier": "high",
                                       "residual_risk": "low",
                                       "risks": [{"id": "R1", "description": v, "severity": "low",
                                                  "likelihood": "rare"}]},
    "suite": lambda v: eval_record(suite="fair" + v),  # an id: refused by its pattern, the field named
}
MULTI_LINE: dict[str, Any] = {
    "notes": lambda v: eval_record(notes=v),
    "description": lambda v: {"kind": "incident", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                              "title": "Drift", "severity": "low", "status": "open", "description": v},
    "rationale": lambda v: {"kind": "exception", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                            "controls": ["GOV-01"], "rationale": v, "owner": "o", "expires_at": "2027-01-01T00:00:00Z",
                            "remediation": "r"},
}


def _as_json(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()  # ASCII: every control character written as a \\u escape


def _where(field: str) -> str:
    return re.escape(f"field '{field}'")


@pytest.mark.parametrize("field", sorted(SINGLE_LINE))
def test_nul_in_a_single_line_field(target: Target, field: str) -> None:
    """NUL is what PostgreSQL text columns refuse: the record must not get that far on either backend."""
    reason = _where(field) + (": String should match pattern" if field == "suite"
                              else r": U\+0000 \(NUL\) at character 3 is not allowed in a single-line text field")
    target.refuse(Bad("r.json", _as_json(SINGLE_LINE[field]("ab\x00cd")), reason))


@pytest.mark.parametrize("field", sorted(MULTI_LINE))
def test_nul_in_a_multi_line_field(target: Target, field: str) -> None:
    target.refuse(Bad("r.json", _as_json(MULTI_LINE[field]("line one\n\x00")), _where(field) + r": U\+0000 \(NUL\)"))


@EXAMPLES
@given(field=st.sampled_from(sorted(SINGLE_LINE)), char=st.sampled_from(CONTROLS),
       before=st.text("abc ", min_size=1, max_size=5), after=st.sampled_from(["", "x", "1 fake-row  evil", "[2J"]))
def test_controls_in_single_line_fields(target: Target, field: str, char: str, before: str, after: str) -> None:
    target.refuse(Bad("r.json", _as_json(SINGLE_LINE[field](before + char + after)), _where(field)))


@EXAMPLES
@given(field=st.sampled_from(sorted(MULTI_LINE)), char=st.sampled_from(sorted(set(CONTROLS) - MULTI_LINE_OK)),
       form=st.sampled_from(["json", "yaml"]))
def test_controls_in_multi_line_fields(target: Target, field: str, char: str, form: str) -> None:
    record = MULTI_LINE[field](f"first line\n\tsecond{char}line")
    if form == "yaml":  # YAML escapes in a double-quoted scalar (\\0, \\e, \\u202E, ...)
        content = json.dumps(record).encode()  # JSON is YAML; read through the YAML reader as r.yaml
        target.refuse(Bad("r.yaml", content, _where(field) + rf": U\+{ord(char):04X}"))
    else:
        target.refuse(Bad("r.json", _as_json(record), _where(field) + rf": U\+{ord(char):04X}"))


def test_a_trailing_line_break_from_a_yaml_block_scalar_is_explained(target: Target) -> None:
    text = "\n".join(f"{k}: {json.dumps(v)}" for k, v in system_record("sys-x").items() if k != "purpose")
    text += "\npurpose: >\n  Scores consumer\n  credit applications\n"
    target.refuse(Bad("r.yaml", text.encode(), _where("purpose") + r": U\+000A \(line feed\).*write '\|-' or '>-'"))


def test_control_characters_in_a_metric_name(target: Target) -> None:
    rec = eval_record(metrics={"auc\x1b[2J": 0.8, "demographic_parity_gap": 0.01})
    result = target.refuse(Bad("r.json", _as_json(rec), r"field 'metrics\.auc\\x1b\[2J\.\[key\]': U\+001B"))
    assert "\x1b" not in result.stderr


def test_multi_line_fields_keep_line_feeds_and_tabs(target: Target) -> None:
    (target.directory / "r.json").write_bytes(_as_json(eval_record(notes="first line\n\tindented second line")))
    result = target.run_cli("append", "r.json", "--key", "pipeline.pem", db=target.db_url)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- display

HOSTILE = "Credit\x1b[2J\x1b]0;pwned\x07\r\nsys-y  Fake  row  low\u202eexe.txt"


def _assert_terminal_safe(output: str) -> None:
    bad = re.findall(f"(?![\n])[{UNSAFE_CHARS}]", output)
    assert not bad, f"unescaped {bad!r} in: {output!r}"
    assert not [line for line in output.splitlines() if line.startswith("sys-y")], output


def test_safe_escapes_every_unsafe_character() -> None:
    for ch in CONTROLS:
        shown = safe(f"a{ch}b")
        assert shown.startswith("a\\") and shown.endswith("b") and ch not in shown, shown
    assert safe(HOSTILE).count("\n") == 0
    assert safe(None) == "" and safe("plain ünïcode text") == "plain ünïcode text"


def test_a_table_cell_cannot_forge_a_row(capsys: pytest.CaptureFixture[str]) -> None:
    echo_table(["system", "name"], [["sys-a", HOSTILE], ["sys-b", "fine"]])
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3, out
    _assert_terminal_safe(out)


def test_records_from_before_the_rule_print_safely(target: Target) -> None:
    """A ledger that already holds such values (appended before the rule) prints them escaped."""
    k = target.keys
    engine = target.ledger.engine
    with engine.begin() as conn:
        system = append_behind_the_back(conn, k.admin, received_at="2026-11-02T10:00:00Z",
                                        record=system_record("sys-x", name=HOSTILE, owner=HOSTILE, purpose=HOSTILE))
        document = append_behind_the_back(conn, k.pipeline, received_at="2026-11-02T10:01:00Z",
                               record={"kind": "document", "system": "sys-x", "observed_at": "2026-11-02T09:00:00Z",
                                       "doc_type": "model_card", "title": HOSTILE, "notes": HOSTILE})
    rebuild_projections(engine)
    with engine.begin() as conn:  # and a database writer's edit of a derived table
        conn.execute(sa.text("UPDATE record SET model_version = :v WHERE system = 'sys-x'"), {"v": HOSTILE})
    for args in (["systems", "list"], ["systems", "show", "sys-x"], ["log"], ["show", str(system)],
                 ["show", str(document)],
                 ["trace", "--system", "sys-x"], ["coverage", "--system", "sys-x", "--summary"]):
        result = target.run_cli(*args, db=target.db_url)
        assert "Traceback" not in result.output
        _assert_terminal_safe(result.output)
        assert result.exit_code in (0, 1), (args, result.output)
