"""'assure push': the pipeline's client. Receipts as 'append --json' prints them, errors
naming the local file, retries on connection errors and 5xx."""

from __future__ import annotations

import json
import re
import socket

import httpx

from ledger.ingest import Document
from server.client import push
from tests.conftest import eval_record
from tests.server.conftest import envelope, jsonl


def test_push_writes_receipts_like_append_and_retries_are_safe(server, tokens, keys, run_cli, db_url, tmp_path):
    (tmp_path / "env.jsonl").write_bytes(jsonl([envelope(eval_record(suite=f"p{i}"), keys.pipeline) for i in range(3)]))
    env = {"ASSURE_TOKEN": tokens["pipeline"]}
    r = run_cli("push", "env.jsonl", "--server", server.url, "--json", env=env)
    assert r.exit_code == 0, r.output
    receipt = json.loads(r.stdout)
    assert [e["source"] for e in receipt["entries"]] == ["env.jsonl:1", "env.jsonl:2", "env.jsonl:3"]
    (tmp_path / "more.jsonl").write_bytes(jsonl([envelope(eval_record(suite="q"), keys.pipeline)]))
    appended = json.loads(run_cli("append", "more.jsonl", "--json", db=db_url).stdout)
    assert set(receipt) == set(appended)
    assert {k for e in receipt["entries"] for k in e} == {k for e in appended["entries"] for k in e} | {"status"}
    again = run_cli("push", "env.jsonl", "--server", server.url, env=env)
    assert again.exit_code == 0 and "3 already in the ledger" in again.output


def test_push_errors_name_the_local_file_as_append_does(server, tokens, keys, run_cli, db_url, tmp_path):
    good = envelope(eval_record(suite="g"), keys.pipeline)
    bad = envelope(eval_record(observed_at="2099-01-01T00:00:00Z"), keys.pipeline)
    (tmp_path / "env.jsonl").write_bytes(jsonl([good, bad]))
    pushed = run_cli("push", "env.jsonl", "--server", server.url, "--token", tokens["pipeline"])
    appended = run_cli("append", "env.jsonl", db=db_url)
    assert pushed.exit_code == appended.exit_code == 2
    def same(text: str) -> str:  # the receive time in the message is each run's own
        return re.sub(r"received at [0-9TZ:-]+", "received at T", text)

    assert same(pushed.output) == same(appended.output)
    assert pushed.output.startswith("Error: env.jsonl:2: field 'observed_at': ")
    (tmp_path / "rec.yaml").write_text("kind: evaluation\n")
    r = run_cli("push", "rec.yaml", "--server", server.url, "--token", tokens["pipeline"])
    assert r.exit_code == 2 and "rec.yaml: not a signed DSSE envelope" in r.output
    r = run_cli("push", "env.jsonl", "--server", server.url, "--token", tokens["viewer"])
    assert r.exit_code == 2 and "HTTP 403" in r.output


def test_push_to_nothing_gives_up_after_its_retries(run_cli, tmp_path, keys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "env.json").write_text(json.dumps(envelope(eval_record(), keys.pipeline)))
    r = run_cli("push", "env.json", "--server", f"http://127.0.0.1:{port}", "--retries", "1", "--token", "t")
    assert r.exit_code == 2 and "cannot reach" in r.output and "after 1 retries" in r.output


def test_the_client_retries_connection_errors_and_5xx_but_not_4xx():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(201, json={"entries": [{"seq": 1, "source": "request[0]"}], "tree_size": 2})

    docs = [Document("a.json", {"payloadType": "x"})]
    with httpx.Client(transport=httpx.MockTransport(handler)) as c:
        out = push("http://x", docs, token="t", client=c, backoff=0)
    assert len(calls) == 3 and out["entries"][0]["source"] == "a.json"
    assert calls[0].headers["authorization"] == "Bearer t"

    calls.clear()
    with httpx.Client(transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(
            400, json={"detail": "request[0]: bad", "source": "request[0]", "reason": "bad", "index": 0}))) as c:
        try:
            push("http://x", docs, token="t", client=c, backoff=0)
        except Exception as e:  # noqa: BLE001
            assert str(e) == "a.json: bad"
    assert len(calls) == 1
