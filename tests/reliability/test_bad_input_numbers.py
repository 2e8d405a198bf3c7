"""Numbers JSON readers would round: refused by field, never stored rounded.

JSON numbers are doubles to most readers, which hold every integer within
±(2**53-1) and no others reliably. A metric of 9007199254740993 used to be
stored as 9007199254740992 and 1e30 as the double nearest it; both are now
refused, naming the file (and line) and the field, whether the record comes as
JSON, JSON Lines, YAML, standard input or inside a signed envelope, on SQLite
and PostgreSQL, with nothing written.
"""

from __future__ import annotations

import json

import pytest
import yaml

from ledger.dsse import sign_envelope
from ledger.records import PAYLOAD_TYPE
from tests.conftest import eval_record, table_bytes
from tests.reliability.conftest import Bad, Target

# What a careless exporter (or an attacker hoping for a rounding differential) writes.
BIG = [
    "9007199254740993",  # 2**53 + 1: a double reads 9007199254740992
    "-9007199254740993",
    "9007199254740992",  # 2**53 itself: beyond the range where every integer is exact
    "100000000000000000000000000000",
    "1e30",  # an integral value written with an exponent
    "1E+30",
    "9007199254740993.0",
    "1" + "0" * 400,  # beyond any double
]
REASON = r"field 'metrics\.auc': .*beyond ±9007199254740991 \(2\*\*53-1\)"


def _with_auc(numeral: str) -> str:
    """An evaluation record as JSON text whose metric ``auc`` is ``numeral``, spelled as given."""
    return json.dumps(eval_record()).replace("0.81", numeral)


@pytest.mark.parametrize("numeral", BIG)
def test_json_file(target: Target, numeral: str) -> None:
    target.refuse(Bad("r.json", _with_auc(numeral).encode(), REASON))


@pytest.mark.parametrize("numeral", BIG[:5])
def test_json_lines_names_the_line(target: Target, numeral: str) -> None:
    lines = [json.dumps(eval_record(suite=f"ok-{i}")) for i in range(3)]
    lines[1] = _with_auc(numeral)
    target.refuse(Bad("batch.jsonl", "\n".join(lines).encode(), r"batch\.jsonl:2: " + REASON))


@pytest.mark.parametrize("numeral", ["9007199254740993", "100000000000000000000000000000", "1.0e+30", "-1.0e+20"])
def test_yaml_file(target: Target, numeral: str) -> None:
    text = yaml.safe_dump(eval_record()).replace("0.81", numeral)
    target.refuse(Bad("r.yaml", text.encode(), REASON))


def test_thresholds_too(target: Target) -> None:
    rec = json.dumps(eval_record(thresholds={"demographic_parity_gap": {"max": 0.5}})).replace("0.5", "1e30")
    target.refuse(Bad("r.json", rec.encode(), r"field 'thresholds\.demographic_parity_gap\.max': .*2\*\*53-1"))


def test_standard_input(target: Target) -> None:
    result = target.run_cli("append", "-", "--key", "pipeline.pem", db=target.db_url,
                            input=_with_auc("9007199254740993"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: <stdin>: field 'metrics.auc': 9007199254740993 is an integral value")
    assert table_bytes(target.ledger.engine) == target.baseline


@pytest.mark.parametrize("numeral", ["1e+30", "9007199254740993", "9007199254740992"])
def test_inside_a_signed_envelope(target: Target, numeral: str) -> None:
    """A payload signed by a trusted key is refused as a plain record would be (exit 2, the field named).

    ``1e+30`` is how RFC 8785 writes that double, so only the number rule refuses it."""
    payload = json.dumps(eval_record(), sort_keys=True, separators=(",", ":")).replace("0.81", numeral).encode()
    env = sign_envelope(PAYLOAD_TYPE, payload, target.keys.pipeline)
    target.refuse(Bad("e.json", env.to_text().encode(), r"e\.json \(payload\): " + REASON, with_key=False))


@pytest.mark.parametrize("numeral, stored", [("9007199254740991", b"9007199254740991"),
                                             ("-9007199254740991", b"-9007199254740991"),
                                             ("1e15", b"1000000000000000"), ("0.1", b"0.1")])
def test_numbers_within_range_are_stored_exactly(target: Target, numeral: str, stored: bytes) -> None:
    (target.directory / "r.json").write_text(_with_auc(numeral))
    result = target.run_cli("append", "r.json", "--key", "pipeline.pem", db=target.db_url)
    assert result.exit_code == 0, result.output
    with target.ledger.engine.connect() as c:
        bodies = [bytes(b) for (b,) in c.exec_driver_sql("SELECT body FROM payload").fetchall()]
    assert sum(b'"auc":' + stored + b"," in b for b in bodies) == 1, bodies
