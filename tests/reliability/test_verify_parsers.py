"""verify's fast leaf and payload readers give exactly the verdicts of the strict parsers.

``assure verify`` reads leaves with one regular expression and payload kinds
with a prebuilt JSON decoder, falling back to ``Leaf.from_bytes`` and
``parse_json``. If the two ever disagreed, verify would accept what the strict
reader refuses (or the reverse), so both are compared here on real leaves and
payloads and on byte-level mutations of them, including the cases the fast
paths treat specially (escapes, big numbers, duplicate keys, whitespace).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import parse_json
from ledger.dsse import sign_envelope
from ledger.entry import Leaf, idempotency_key, parse_leaf
from ledger.records import PAYLOAD_TYPE, parse_record, record_bytes
from ledger.verify import _check_payload_kind, _Fail
from tests.conftest import eval_record, fixed_key

KEY = fixed_key("pipeline")
_PAYLOAD = record_bytes(parse_record(eval_record()))
_ENV = sign_envelope(PAYLOAD_TYPE, _PAYLOAD, KEY)


def _leaf(origin: str = "test.example/ledger", seq: int = 7, received: str = "2026-11-02T09:00:00.5Z",
          sigs: int = 1) -> bytes:
    sha = "ab" * 32
    signatures = _ENV.signatures * sigs
    return Leaf(origin, seq, "evaluation", sha, PAYLOAD_TYPE, signatures,
                idempotency_key(sha, [s.keyid for s in signatures]), received).to_bytes()


LEAVES = [
    _leaf(), _leaf(seq=0), _leaf(seq=10**15), _leaf(seq=2**53 - 1), _leaf(sigs=0), _leaf(sigs=2),
    _leaf(origin='quote"and\\back'), _leaf(origin="tab\there"), _leaf(origin="ünïcødé/ledger"),
    _leaf(origin="\u2028line"), _leaf(received="x\x7fy"),
]
PAYLOADS = [
    _PAYLOAD, b'{"kind":"evaluation"}', b' {"kind":"evaluation"}', b'{"kind":"evaluation"}\n',
    b'{"kind":"evaluation","kind":"evaluation"}', b'{"kind":"evaluation","a":{"b":1,"b":2}}',
    b'{"kind":"evaluation","n":1' + b"0" * 400 + b"}", b'{"kind":"evaluation","n":1' + b"0" * 5000 + b"}",
    b'{"kind":"evaluation","n":NaN}', b'{"kind":"evaluation","n":1e400}', b'["kind"]', b'{"kind":1}',
    b'{"kind":"evalu\\u0061tion"}', b'{"kind":"evaluation","s":"\\ud800"}', b"[" * 50_000,
]


def _leaf_verdict(parse: Any, data: bytes) -> Any:
    try:
        return parse(data)
    except ValueError as e:
        return ("refused", str(e))


def _strict_kind_verdict(body: bytes) -> str:
    try:
        found = parse_json(body).get("kind")
    except (ValueError, AttributeError):
        return "not a record"
    return "ok" if found == "evaluation" else f"kind {found!r}"


def _fast_kind_verdict(body: bytes) -> str:
    try:
        _check_payload_kind(body, "evaluation", 1)
    except _Fail as f:
        return "not a record" if "not a JSON record" in f.reason else f.reason.split(" does not")[0].replace(
            "payload kind", "kind")
    return "ok"


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for op, pos, byte in ops:
        i = pos % (len(out) + 1)
        if op == 0 and out:
            out[i % len(out)] = byte
        elif op == 1 and out:
            del out[i % len(out)]
        else:
            out.insert(i, byte)
    return bytes(out)


mutations = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 2_000),
              st.sampled_from(b'"\\ ,:{}[]0159eE.-+=/Aa\x00\x1f\x7f\xc3\xa9\xff')),
    max_size=3,
)


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_reader_agrees_on_edge_cases(leaf: bytes) -> None:
    assert _leaf_verdict(parse_leaf, leaf) == _leaf_verdict(Leaf.from_bytes, leaf)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(LEAVES), ops=mutations)
def test_leaf_reader_agrees_on_mutated_leaves(base: bytes, ops: list[tuple[int, int, int]]) -> None:
    leaf = _mutate(base, ops)
    assert _leaf_verdict(parse_leaf, leaf) == _leaf_verdict(Leaf.from_bytes, leaf)


def test_leaf_reader_agrees_on_non_canonical_base64() -> None:
    sig = base64.b64encode(_ENV.signatures[0].sig).decode()
    loose = sig[:-3] + chr(ord(sig[-3]) + 1) + "=="  # same bytes decoded, other text
    leaf = _leaf().replace(sig.encode(), loose.encode())
    assert _leaf_verdict(parse_leaf, leaf) == _leaf_verdict(Leaf.from_bytes, leaf)
    assert _leaf_verdict(parse_leaf, leaf)[0] == "refused"


@pytest.mark.parametrize("body", PAYLOADS)
def test_payload_kind_reader_agrees_on_edge_cases(body: bytes) -> None:
    assert _fast_kind_verdict(body) == _strict_kind_verdict(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(extra=st.dictionaries(st.text(max_size=4), json_values, max_size=4), kind=st.sampled_from(["evaluation", "x"]),
       ops=mutations)
def test_payload_kind_reader_agrees_on_mutated_payloads(extra: dict[str, Any], kind: str,
                                                         ops: list[tuple[int, int, int]]) -> None:
    body = _mutate(json.dumps(extra | {"kind": kind}).encode(), ops)
    assert _fast_kind_verdict(body) == _strict_kind_verdict(body)
