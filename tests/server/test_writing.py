"""POST /v1/entries: the rules and words of 'assure append', signatures as the authority,
safe retries, RFC 9457 problems, caps; nothing written on any error."""

from __future__ import annotations

import base64
import json
import re

import pytest

from ledger.merkle import leaf_hash, verify_inclusion
from ledger.store import Ledger
from tests.conftest import eval_record, table_bytes
from tests.server.conftest import envelope, jsonl


def _post(server, token, body, content_type="application/json"):
    with server.client(token) as c:
        return c.post("/v1/entries", content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                      headers={"Content-Type": content_type})


def test_a_pipeline_posts_an_envelope_and_keeps_a_receipt_that_proves_it(server, tokens, ledger, keys):
    env = envelope(eval_record(suite="robustness"), keys.pipeline)
    r = _post(server, tokens["pipeline"], env)
    assert r.status_code == 201, r.text
    receipt = r.json()
    (e,) = receipt["entries"]
    assert e["status"] == "appended" and e["kind"] == "evaluation" and e["system"] == "credit-scoring"
    assert e["seq"] == ledger.head().size - 1
    leaf = base64.b64decode(e["leaf"])
    verify_inclusion(leaf_hash(leaf), e["seq"], receipt["tree_size"], [bytes.fromhex(h) for h in e["inclusion_proof"]],
                     bytes.fromhex(receipt["root"]))
    assert set(receipt) == {"origin", "tree_size", "root", "checkpoint", "entries"}  # as 'append --json'


def test_a_retry_returns_the_original_receipt_and_writes_nothing(server, tokens, ledger, keys, engine):
    envs = [envelope(eval_record(suite=f"s{i}"), keys.pipeline) for i in range(3)]
    first = _post(server, tokens["pipeline"], envs).json()
    before = table_bytes(engine)
    again = _post(server, tokens["pipeline"], jsonl(envs), "application/jsonl")
    assert again.status_code == 200
    assert [e["seq"] for e in again.json()["entries"]] == [e["seq"] for e in first["entries"]]
    assert {e["status"] for e in again.json()["entries"]} == {"duplicate"}
    assert table_bytes(engine) == before
    # one old and one new: the old one answered, the new one appended
    mixed = _post(server, tokens["pipeline"], [envs[0], envelope(eval_record(suite="new"), keys.pipeline)])
    assert mixed.status_code == 201
    assert [e["status"] for e in mixed.json()["entries"]] == ["duplicate", "appended"]


def test_an_envelope_signed_by_an_untrusted_key_is_refused_whatever_the_token(server, tokens, engine, keys):
    before = table_bytes(engine)
    env = envelope(eval_record(), keys.stranger)
    for role in ("pipeline", "admin"):
        r = _post(server, tokens[role], [envelope(eval_record(suite="ok"), keys.pipeline), env])
        assert r.status_code == 400, r.text
        p = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert p["index"] == 1 and p["source"] == "request[1]" and p["field"] == "signatures[0]", p
        assert p["reason"].endswith("is not trusted in this ledger"), p
    assert table_bytes(engine) == before


def test_errors_carry_the_cli_message_naming_source_field_and_reason(server, tokens, engine, keys, run_cli, db_url,
                                                                      tmp_path):
    bad = envelope(eval_record(observed_at="2099-01-01T00:00:00Z"), keys.pipeline)
    good = envelope(eval_record(suite="fine"), keys.pipeline)
    before = table_bytes(engine)
    r = _post(server, tokens["pipeline"], [good, bad])
    p = r.json()
    assert r.status_code == 400 and p["field"] == "observed_at" and p["index"] == 1
    assert p["detail"] == f"request[1]: field 'observed_at': {p['reason']}"
    (tmp_path / "b.json").write_text(json.dumps([good, bad]))
    cli = run_cli("append", "b.json", db=db_url)
    assert cli.exit_code == 2

    def same(text: str) -> str:  # the receive time in the message is each run's own
        return re.sub(r"received at [0-9TZ:-]+", "received at T", text)

    assert same(cli.output) == same(f"Error: b.json[1]: field 'observed_at': {p['reason']}\n")
    assert table_bytes(engine) == before


def test_who_may_post(server, tokens, engine, keys):
    env = envelope(eval_record(suite="auth"), keys.pipeline)
    before = table_bytes(engine)
    for token, status in ((None, 401), ("assure_000000000000_nope", 401), ("garbage", 401),
                          (tokens["viewer"], 403), (tokens["auditor"], 403)):
        r = _post(server, token, env)
        assert r.status_code == status, (token, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert table_bytes(engine) == before


def test_revoked_and_expired_tokens_are_refused(server, engine, keys):
    import datetime as dt

    from ledger.api_tokens import create_token, revoke_token

    token, info = create_token(engine, role="pipeline", name="short-lived")
    old, _ = create_token(engine, role="pipeline", name="expired", expires_in=dt.timedelta(hours=1),
                          now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    env = envelope(eval_record(suite="rev"), keys.pipeline)
    revoke_token(engine, info.token_id)
    for t, word in ((token, "revoked"), (old, "expired")):
        r = _post(server, t, env)
        assert r.status_code == 401 and word in r.json()["detail"]


def test_unsigned_records_and_bad_bodies_are_refused(server, tokens, engine):
    before = table_bytes(engine)
    cases = [
        (json.dumps(eval_record()).encode(), 400, "not a signed DSSE envelope"),
        (b"{not json", 400, "request"),
        (b"[]", 400, "holds no records"),
        (b"\xff\xfe", 400, "invalid UTF-8"),
        (b"[" * 100 + b"]" * 100, 400, "nested 100 deep"),
        (b'{"payloadType": "x", "payload": "!!", "signatures": []}', 400, "payload"),
    ]
    for body, status, words in cases:
        r = _post(server, tokens["pipeline"], body)
        assert r.status_code == status and words in r.json()["detail"], (body[:30], r.text)
    assert table_bytes(engine) == before


def test_the_same_envelope_twice_in_one_request_is_refused(server, tokens, engine, keys):
    env = envelope(eval_record(suite="twice"), keys.pipeline)
    before = table_bytes(engine)
    r = _post(server, tokens["pipeline"], [env, env])
    assert r.status_code == 409 and "twice in this batch" in r.json()["detail"]
    assert table_bytes(engine) == before


def test_a_replay_with_altered_signature_bytes_gets_no_receipt(server, tokens, engine, keys):
    env = envelope(eval_record(suite="replay"), keys.pipeline)
    assert _post(server, tokens["pipeline"], env).status_code == 201
    before = table_bytes(engine)
    forged = json.loads(json.dumps(env))
    sig = bytearray(base64.b64decode(forged["signatures"][0]["sig"]))
    sig[0] ^= 1
    forged["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    r = _post(server, tokens["pipeline"], forged)
    assert r.status_code in (400, 409) and "entries" not in r.json()
    assert table_bytes(engine) == before


@pytest.mark.parametrize("backend_only", ["sqlite"])
def test_caps_on_body_size_and_batch_size(ledger, tokens, serve, keys, engine, backend_only, db_url):
    if not db_url.startswith(backend_only):
        pytest.skip("the caps do not depend on the backend")
    server = serve("--max-body", "4096", "--max-batch", "2")
    before = table_bytes(engine)
    envs = [envelope(eval_record(suite=f"cap{i}"), keys.pipeline) for i in range(3)]
    r = _post(server, tokens["pipeline"], envs)
    assert r.status_code == 413 and "at most 2" in r.json()["detail"]
    r = _post(server, tokens["pipeline"], b"[" + b" " * 5000 + b"]")
    assert r.status_code == 413 and "4,096 bytes" in r.json()["detail"]
    with server.client(tokens["pipeline"]) as c:  # chunked, no Content-Length: cut off too
        r = c.post("/v1/entries", content=iter([b"[", b" " * 3000, b" " * 3000, b"]"]))
    assert r.status_code == 413
    assert table_bytes(engine) == before
    assert Ledger(engine).head().size == before["ledger_head"][0][2]


def test_concurrent_requests_share_a_transaction_yet_fail_alone(server, tokens, ledger, keys, engine):
    """Group commit: a bad request among concurrent good ones is refused on its own; the same
    envelope posted by two clients at once is appended once and answered twice."""
    from concurrent.futures import ThreadPoolExecutor

    same = envelope(eval_record(suite="both"), keys.pipeline)
    bodies = [[envelope(eval_record(suite=f"g{i}-{j}"), keys.pipeline) for j in range(3)] for i in range(12)]
    bodies[5] = [envelope(eval_record(suite="bad-a"), keys.pipeline), envelope(eval_record(suite="bad-b"), keys.stranger)]
    bodies += [[same], [same]]
    start = ledger.head().size
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: _post(server, tokens["pipeline"], b), bodies))
    assert answers[5].status_code == 400 and answers[5].json()["index"] == 1
    assert all(r.status_code in (200, 201) for i, r in enumerate(answers) if i != 5), [r.text for r in answers]
    assert sorted(r.json()["entries"][0]["status"] for r in answers[-2:]) == ["appended", "duplicate"]
    seqs = [e["seq"] for i, r in enumerate(answers) if i != 5 for e in r.json()["entries"]]
    assert len(set(seqs)) == 11 * 3 + 1 and Ledger(engine).head().size == start + 34
    suites = {r["subtype"] for r in Ledger(engine).iter_records(kind="evaluation")}
    assert "bad-a" not in suites and "both" in suites
