"""Bad input thrown at ``assure append``: exit 2, a message naming the source and why, nothing written.

Every example goes through the real CLI (click runner, exceptions not caught,
so a traceback fails the test) against an initialised ledger on SQLite and
PostgreSQL, with the control catalog wired as the CLI wires it. Each input is
built so that it is certainly invalid (a valid record would be appended), and
after each one the ledger's tables must equal, byte for byte, what they were
before the first. Categories: malformed YAML/JSON/JSON Lines, wrong types,
unknown kinds, unknown fields, unknown controls, bad timestamps, oversized
fields, invalid UTF-8, wrong or truncated signatures, tampered payloads, and
replayed envelopes (refused as duplicates).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from frameworks.loader import control_ids
from ledger.dsse import Envelope, Signature, sign_envelope
from ledger.keys import PrivateKey
from ledger.records import (
    KINDS,
    PAYLOAD_TYPE,
    EvaluationRecord,
    parse_record,
    record_bytes,
)
from tests.conftest import eval_record, table_bytes
from tests.reliability.conftest import Bad, Target

EXAMPLES = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

suites = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _envelope(record: dict[str, Any], key: PrivateKey) -> Envelope:
    return sign_envelope(PAYLOAD_TYPE, record_bytes(parse_record(record)), key)


def _env_json(env: Envelope) -> bytes:
    return env.to_text().encode("utf-8")


# ---------------------------------------------------------------- malformed syntax

@st.composite
def malformed(draw: st.DrawFn) -> Bad:
    rec = eval_record(suite=draw(suites))
    form = draw(st.sampled_from(
        ["json-cut", "yaml-cut", "json-dup", "yaml-dup", "json-extra", "json-nan", "jsonl-bad-line", "yaml-tab"]
    ))
    if form == "json-cut":  # every proper prefix of a JSON object is invalid
        text = json.dumps(rec)
        return Bad("r.json", text[: draw(st.integers(1, len(text) - 1))].encode(), "invalid JSON")
    if form == "yaml-cut":  # a flow mapping never closed
        text = yaml.safe_dump(rec, default_flow_style=True)
        return Bad("r.yaml", text[: draw(st.integers(1, text.rindex("}")))].encode(), "invalid YAML")
    if form == "json-dup":
        text = json.dumps(rec)[:-1] + ', "suite": "other"}'
        return Bad("r.json", text.encode(), "duplicate key")
    if form == "yaml-dup":
        return Bad("r.yaml", (yaml.safe_dump(rec) + "suite: other\n").encode(), "duplicate key")
    if form == "json-extra":
        tail = draw(st.sampled_from(["}", "x", ",", "]", "{}"]))
        return Bad("r.json", (json.dumps(rec) + tail).encode(), "invalid JSON")
    if form == "json-nan":
        return Bad("r.json", json.dumps(rec | {"metrics": {"auc": float("nan")}}).encode(), "NaN")
    if form == "yaml-tab":
        return Bad("r.yaml", b"kind: evaluation\nmetrics:\n\tauc: 0.8\n", "invalid YAML")
    # One broken line among valid ones: the whole file is refused.
    lines = [json.dumps(eval_record(suite=f"{rec['suite']}-{i}")) for i in range(draw(st.integers(2, 5)))]
    i = draw(st.integers(0, len(lines) - 1))
    lines[i] = lines[i][: draw(st.integers(1, len(lines[i]) - 1))]
    return Bad("batch.jsonl", ("\n".join(lines) + "\n").encode(), rf"batch\.jsonl:{i + 1}: invalid JSON")


@EXAMPLES
@given(bad=malformed())
def test_malformed_yaml_and_json(target: Target, bad: Bad) -> None:
    target.refuse(bad)


# ---------------------------------------------------------------- wrong types

_WRONG = {
    "str": st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
    "bool": st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False), st.none()),
    "dict": st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.booleans()),
    "list": st.one_of(st.integers(), st.text(max_size=5), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
}
_FIELD_TYPES = {
    "system": "str", "observed_at": "str", "model_version": "str", "suite": "str", "notes": "str",
    "valid_until": "str", "passed": "bool", "metrics": "dict", "thresholds": "dict", "controls": "list",
    "artifacts": "list", "datasets": "list",
}


@st.composite
def wrong_types(draw: st.DrawFn) -> Bad:
    if draw(st.integers(0, 5)) == 0:  # a document that is not a mapping at all
        doc = draw(st.one_of(st.integers(), st.text(max_size=10), st.lists(st.integers(), min_size=1, max_size=3)))
        return Bad("r.json", _json(doc), "must be a mapping")
    field = draw(st.sampled_from(sorted(_FIELD_TYPES)))
    value = draw(_WRONG[_FIELD_TYPES[field]])
    if field == "metrics" and draw(st.booleans()):  # a metric value that is not a number
        field, value = "metrics.auc", {"auc": draw(st.one_of(st.text(max_size=5), st.booleans(), st.none()))}
    rec = eval_record(suite=draw(suites)) | {field.split(".")[0]: value}
    return Bad("r.json", _json(rec), re.escape(f"field '{field}"))


@EXAMPLES
@given(bad=wrong_types())
def test_wrong_types(target: Target, bad: Bad) -> None:
    target.refuse(bad)


# ---------------------------------------------------------------- unknown kinds, fields, controls

@EXAMPLES
@given(kind=st.one_of(st.text(max_size=20), st.integers(), st.sampled_from(["Evaluation", "key.rotate", "eval"]))
       .filter(lambda k: k not in KINDS))
def test_unknown_kind(target: Target, kind: Any) -> None:
    target.refuse(Bad("r.json", _json(eval_record() | {"kind": kind}), r"field 'kind'.*unknown kind"))


@EXAMPLES
@given(field=st.text(min_size=1, max_size=20).filter(lambda f: f not in EvaluationRecord.model_fields),
       value=st.one_of(st.integers(), st.text(max_size=5), st.none()))
def test_unknown_field(target: Target, field: str, value: Any) -> None:
    target.refuse(Bad("r.json", _json(eval_record() | {field: value}), "unknown field for kind 'evaluation'"))


_CATALOG = control_ids(user_dir=None)


class _QuotingDumper(yaml.SafeDumper):
    """Every string single-quoted: a generated id such as ``08`` is then the text it is, not a
    plain scalar the strict reader refuses as ambiguous (another test's subject)."""


_QuotingDumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="'"))


@EXAMPLES
@example(control="08", known=[])  # a plain 08 is ambiguous YAML: the dump must quote it
@given(control=st.from_regex(r"[A-Z0-9][A-Z0-9._-]{0,30}", fullmatch=True).filter(lambda c: c not in _CATALOG),
       known=st.lists(st.sampled_from(sorted(_CATALOG)), max_size=3, unique=True))
def test_unknown_control(target: Target, control: str, known: list[str]) -> None:
    rec = eval_record(controls=[*known, control])
    text = yaml.dump(rec, Dumper=_QuotingDumper)
    target.refuse(Bad("r.yaml", text.encode(), f"unknown control '{re.escape(control)}'"))


# ---------------------------------------------------------------- timestamps and sizes

@st.composite
def bad_timestamps(draw: st.DrawFn) -> tuple[str, Any]:
    field = draw(st.sampled_from(["observed_at", "valid_until"]))
    form = draw(st.sampled_from(["range", "naive", "garbage", "yaml-naive"]))
    if form == "range":
        parts = [draw(st.integers(2000, 2100)), draw(st.integers(1, 12)), draw(st.integers(1, 28)),
                 draw(st.integers(0, 23)), draw(st.integers(0, 59))]
        which = draw(st.integers(1, 4))
        parts[which] = draw(st.integers([13, 32, 24, 60][which - 1], 99))
        return field, "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:00Z".format(*parts)
    if form == "naive":
        return field, f"2026-11-{draw(st.integers(10, 28))}T09:00:00"
    if form == "yaml-naive":  # YAML turns an unquoted time without zone into a naive datetime
        return field, "YAML-NAIVE"
    return field, draw(st.text(max_size=25).filter(lambda s: not re.match(r"\s*\d{4}-\d\d-\d\d", s)))


@EXAMPLES
@given(case=bad_timestamps())
def test_bad_timestamps(target: Target, case: tuple[str, Any]) -> None:
    field, value = case
    if value == "YAML-NAIVE":
        text = yaml.safe_dump(eval_record()) + f"{field}: 2026-11-03 09:00:00\n" if field == "valid_until" else \
            yaml.safe_dump({k: v for k, v in eval_record().items() if k != field}) + f"{field}: 2026-11-03 09:00:00\n"
        target.refuse(Bad("r.yaml", text.encode(), f"field '{field}'.*timezone"))
        return
    target.refuse(Bad("r.json", _json(eval_record() | {field: value}), f"field '{field}'"))


@st.composite
def oversized(draw: st.DrawFn) -> Bad:
    form = draw(st.sampled_from(["suite", "model_version", "notes", "metrics", "controls", "record"]))
    rec = eval_record()
    if form in ("suite", "model_version"):  # ids are at most 128 characters
        rec[form] = "a" * draw(st.integers(129, 5000))
        return Bad("r.json", _json(rec), f"field '{form}'")
    if form == "notes":
        rec["notes"] = "n" * draw(st.integers(20_001, 60_000))
        return Bad("r.json", _json(rec), "field 'notes'.*at most 20000")
    if form == "metrics":
        rec["metrics"] = {f"m{i}": i for i in range(draw(st.integers(501, 700)))}
        return Bad("r.json", _json(rec), "field 'metrics'.*at most 500")
    if form == "controls":
        rec["controls"] = ["GOV-01"] * draw(st.integers(201, 300))
        return Bad("r.json", _json(rec), "field 'controls'.*at most 200")
    # Every field within its limit, the record as a whole over 256 KiB.
    uri = "https://example.com/" + "x" * draw(st.integers(1500, 2000))
    rec["artifacts"] = [{"name": f"a{i}", "uri": uri, "sha256": "0" * 64} for i in range(200)]
    return Bad("r.json", _json(rec), r"record is \d+ bytes; the limit is 262144")


@EXAMPLES
@given(bad=oversized())
def test_oversized_fields(target: Target, bad: Bad) -> None:
    target.refuse(bad)


# ---------------------------------------------------------------- invalid UTF-8

_INVALID_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf8\x88\x80\x80\x80"]


@EXAMPLES
@given(suffix=st.sampled_from([".json", ".yaml", ".jsonl"]), junk=st.sampled_from(_INVALID_UTF8),
       where=st.floats(0, 1))
def test_invalid_utf8(target: Target, suffix: str, junk: bytes, where: float) -> None:
    text = yaml.safe_dump(eval_record()).encode() if suffix == ".yaml" else _json(eval_record())
    at = int(where * len(text))
    target.refuse(Bad("r" + suffix, text[:at] + junk + text[at:], "invalid UTF-8 at byte"))


def test_invalid_utf8_inside_a_signed_payload(target: Target) -> None:
    payload = record_bytes(parse_record(eval_record())).replace(b"fairness", b"fair\xffness")
    env = Envelope(PAYLOAD_TYPE, payload, (Signature(target.keys.pipeline.public.key_id,
                                                     target.keys.pipeline.sign(b"")),))
    signed = sign_envelope(PAYLOAD_TYPE, payload, target.keys.pipeline)
    for e in (env, signed):
        target.refuse(Bad("e.json", _env_json(e), r"e\.json \(payload\): invalid UTF-8", with_key=False))


# ---------------------------------------------------------------- signatures and payloads

@st.composite
def bad_signatures(draw: st.DrawFn) -> tuple[str, int, int]:
    return (draw(st.sampled_from(["truncated", "random", "other-key", "untrusted", "keyid", "base64",
                                  "empty", "twice", "role", "other-record"])),
            draw(st.integers(0, 63)), draw(st.integers(0, 2**32)))


@EXAMPLES
@given(case=bad_signatures(), suite=suites)
def test_wrong_or_truncated_signatures(target: Target, case: tuple[str, int, int], suite: str) -> None:
    form, n, seed = case
    k = target.keys
    env = _envelope(eval_record(suite=suite), k.pipeline)
    data = env.to_json()
    sig = data["signatures"][0]
    reason = r"signature"
    if form == "truncated":
        sig["sig"] = base64.b64encode(env.signatures[0].sig[:n]).decode()
    elif form == "random":
        sig["sig"] = base64.b64encode(PrivateKey(seed.to_bytes(32, "big")).sign(b"x")).decode()
    elif form == "other-key":  # a valid signature by a stranger, claiming the pipeline key's id
        sig["sig"] = base64.b64encode(_envelope(eval_record(suite=suite), k.stranger).signatures[0].sig).decode()
    elif form == "untrusted":
        data = _envelope(eval_record(suite=suite), k.stranger).to_json()
        reason = "not trusted"
    elif form == "keyid":
        sig["keyid"] = sig["keyid"][: n % 64]
    elif form == "base64":
        sig["sig"] = sig["sig"][: 1 + n] + "!"
    elif form == "empty":
        data["signatures"] = []
    elif form == "twice":
        data["signatures"] = [sig, dict(sig)]
        reason = "signed twice"
    elif form == "role":  # an auditor key may sign documents only
        data = _envelope(eval_record(suite=suite), k.auditor).to_json()
        reason = "may not sign 'evaluation'"
    else:  # the signature of another record by the same key
        sig["sig"] = base64.b64encode(_envelope(eval_record(suite=suite + "x"), k.pipeline).signatures[0].sig).decode()
    target.refuse(Bad("e.json", _json(data), reason, with_key=False))


@EXAMPLES
@given(form=st.sampled_from(["other-record", "flip", "type", "non-canonical"]), pos=st.integers(0, 10_000),
       mask=st.integers(1, 255), suite=suites)
def test_envelopes_with_tampered_payloads(target: Target, form: str, pos: int, mask: int, suite: str) -> None:
    k = target.keys
    env = _envelope(eval_record(suite=suite), k.pipeline)
    data = env.to_json()
    reason = "."
    if form == "other-record":  # a canonical payload of a different record under the old signature
        data["payload"] = base64.b64encode(record_bytes(parse_record(eval_record(suite=suite, passed=False)))).decode()
        reason = "does not verify"
    elif form == "flip":
        body = bytearray(env.payload)
        body[pos % len(body)] ^= mask
        data["payload"] = base64.b64encode(bytes(body)).decode()
    elif form == "type":
        data["payloadType"] = "application/vnd.in-toto+json"
        reason = "payloadType"
    else:  # validly signed, but not the canonical bytes of its record
        loose = json.dumps(json.loads(env.payload), indent=1).encode()
        data = sign_envelope(PAYLOAD_TYPE, loose, k.pipeline).to_json()
        reason = "not the canonical form"
    target.refuse(Bad("e.json", _json(data), reason, with_key=False))


# ---------------------------------------------------------------- replays

@pytest.fixture
def logged(target: Target) -> list[Envelope]:
    """Three envelopes already appended (the baseline is taken after them)."""
    envs = [_envelope(eval_record(suite=f"logged-{i}"), target.keys.pipeline) for i in range(3)]
    path = target.directory / "logged.jsonl"
    path.write_text("".join(json.dumps(e.to_json()) + "\n" for e in envs))
    assert target.run_cli("append", "logged.jsonl", db=target.db_url).exit_code == 0
    target.baseline = table_bytes(target.ledger.engine)
    return envs


@EXAMPLES
@given(which=st.integers(0, 2), fresh=st.lists(suites, max_size=4, unique=True), at=st.integers(0, 4),
       form=st.sampled_from(["pretty", "jsonl", "resigned", "same-batch"]))
def test_replayed_envelopes_are_refused_as_duplicates(
    target: Target, logged: list[Envelope], which: int, fresh: list[str], at: int, form: str
) -> None:
    new = [_envelope(eval_record(suite="fresh-" + s), target.keys.pipeline) for s in fresh]
    replay = logged[which]
    reason = "already in the ledger as entry .*replayed envelope"
    if form == "resigned":  # the same record signed again by the same key is the same submission
        replay = _envelope(json.loads(replay.payload), target.keys.pipeline)
    if form == "same-batch":
        replay = _envelope(eval_record(suite="twice"), target.keys.pipeline)
        new.append(replay)
        reason = "appears twice in this batch"
    batch = new[: at % (len(new) + 1)] + [replay] + new[at % (len(new) + 1):]
    if form == "pretty" and len(batch) == 1:
        target.refuse(Bad("replay.json", _env_json(batch[0]), reason, with_key=False))
    else:
        text = "".join(json.dumps(e.to_json()) + "\n" for e in batch)
        target.refuse(Bad("replay.jsonl", text.encode(), reason, with_key=False))


# ---------------------------------------------------------------- numerals too big for Python

@pytest.mark.parametrize("name, text", [
    pytest.param("r.json", json.dumps(eval_record())[:-1] + ', "notes": 1' + "0" * 400 + "}"),
    pytest.param("r.yaml", yaml.safe_dump(eval_record()) + "notes: 1" + "0" * 5000 + "\n"),
])
def test_huge_numerals(target: Target, name: str, text: str) -> None:
    target.refuse(Bad(name, text.encode(), "."))


# ---------------------------------------------------------------- the harness itself

def test_the_same_inputs_when_valid_are_appended(target: Target) -> None:
    """Each form used above is appended when nothing is wrong with it, so the refusals come from the defects."""
    env = _envelope(eval_record(suite="valid-envelope"), target.keys.pipeline)
    good = [
        ("r.json", _json(eval_record(suite="valid-json")), True),
        ("r.yaml", yaml.safe_dump(eval_record(suite="valid-yaml", controls=sorted(_CATALOG)[:2])).encode(), True),
        ("batch.jsonl", ("\n".join(json.dumps(eval_record(suite=f"valid-{i}")) for i in range(3)) + "\n").encode(), True),
        ("e.json", _env_json(env), False),
    ]
    for name, content, with_key in good:
        (target.directory / name).write_bytes(content)
        result = target.run_cli("append", name, *(["--key", "pipeline.pem"] if with_key else []), db=target.db_url)
        assert result.exit_code == 0, f"{name}: {result.output}"
    assert target.ledger.head().size == len(target.baseline["entry"]) + 6
