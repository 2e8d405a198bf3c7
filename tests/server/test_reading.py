"""Read endpoints answer exactly what each command's --json prints (one library call behind
both); roles decide who sees payloads; bad parameters are problems naming the parameter."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ledger.ingest import Document
from tests.conftest import T0, eval_record

AS_OF = "2026-12-20T00:00:00Z"


@pytest.fixture
def world(ledger, keys):
    """The ledger fixture plus evaluations, a model card and a pending exception (received at T0 + 1 day)."""
    at = T0 + dt.timedelta(days=1)
    ledger.append([Document("e1", eval_record()), Document("e2", eval_record(suite="robustness", passed=False,
                   metrics={"auc": 0.5}, thresholds={"auc": {"min": 0.7}})),
                   Document("d", {"kind": "document", "system": "credit-scoring", "observed_at": "2026-11-02T09:00:00Z",
                                  "doc_type": "model_card", "title": "Model card", "model_version": "2.1.0"})],
                  signing_key=keys.pipeline, now=at)
    ledger.append([Document("x", {
        "kind": "exception", "system": "credit-scoring", "observed_at": "2026-11-02T00:00:00Z",
        "controls": ["EVAL-ROBUST-01"], "rationale": "r", "compensating_controls": ["OPS-MONITOR-01"],
        "owner": "Head of Risk", "expires_at": "2027-01-15T00:00:00Z", "remediation": "retrain"})],
        signing_key=keys.approver, now=at)
    return ledger


CASES = [
    (["systems", "list", "--as-of", AS_OF], "/v1/systems", {"as_of": AS_OF}),
    (["systems", "show", "credit-scoring", "--as-of", AS_OF], "/v1/systems/credit-scoring", {"as_of": AS_OF}),
    (["coverage", "--system", "credit-scoring", "--as-of", AS_OF], "/v1/coverage",
     {"system": "credit-scoring", "as_of": AS_OF}),
    (["coverage", "--system", "credit-scoring", "--framework", "eu-ai-act", "--summary", "--horizon", "730d",
      "--as-of", AS_OF], "/v1/coverage",
     {"system": "credit-scoring", "framework": "eu-ai-act", "details": "false", "horizon": "730d", "as_of": AS_OF}),
    (["gaps", "--system", "credit-scoring", "--forecast", "60d", "--horizon", "400d", "--as-of", AS_OF], "/v1/gaps",
     {"system": "credit-scoring", "forecast": "60d", "horizon": "400d", "as_of": AS_OF}),
    (["gaps", "--system", "credit-scoring", "--framework", "nist-ai-rmf", "--as-of", AS_OF], "/v1/gaps",
     {"system": "credit-scoring", "framework": "nist-ai-rmf", "as_of": AS_OF}),
    (["exceptions", "--as-of", AS_OF], "/v1/exceptions", {"as_of": AS_OF}),
    (["exceptions", "--system", "credit-scoring", "--expired", "--as-of", "2027-02-01"], "/v1/exceptions",
     {"system": "credit-scoring", "expired": "true", "as_of": "2027-02-01"}),
    (["kpis", "--as-of", AS_OF, "--expiring", "60d"], "/v1/kpis", {"as_of": AS_OF, "expiring": "60d"}),
    (["trace", "--system", "credit-scoring", "--model-version", "2.1.0", "--as-of", AS_OF], "/v1/trace",
     {"system": "credit-scoring", "model_version": "2.1.0", "as_of": AS_OF}),
    (["log", "--system", "credit-scoring", "--limit", "5"], "/v1/log", {"system": "credit-scoring", "limit": "5"}),
    (["log", "--kind", "evaluation"], "/v1/log", {"kind": "evaluation"}),
    (["show", "7"], "/v1/entries/7", {}),
    (["proof", "inclusion", "3", "--size", "8"], "/v1/proof/inclusion", {"seq": "3", "size": "8"}),
    (["proof", "consistency", "--from", "4"], "/v1/proof/consistency", {"from": "4"}),
]


def test_every_read_endpoint_answers_what_the_command_prints(world, tokens, serve, run_cli, db_url):
    server = serve()
    with server.client(tokens["auditor"]) as c:
        for args, path, params in CASES:
            cli = run_cli(*args, "--json", db=db_url)
            assert cli.exit_code in (0, 1), (args, cli.output)  # trace exits 1 on broken links
            r = c.get(path, params=params)
            assert r.status_code == 200, (path, r.text)
            assert r.json() == json.loads(cli.stdout), args
            assert r.json() or "--expired" in args, args  # something to compare
        assert c.get("/v1/verify").json() == json.loads(run_cli("verify", "--json", db=db_url).stdout)


def test_roles_decide_who_reads_payloads(world, tokens, serve):
    server = serve()
    for role, entry, log, tokens_list in (("viewer", 403, 200, 403), ("pipeline", 403, 200, 403),
                                           ("auditor", 200, 200, 403), ("admin", 200, 200, 200)):
        with server.client(tokens[role]) as c:
            assert c.get("/v1/entries/5").status_code == entry, role
            assert c.get("/v1/log").status_code == log, role
            assert c.get("/v1/tokens").status_code == tokens_list, role
    with server.client() as c:
        for path in ("/v1/log", "/v1/systems", "/v1/entries/0", "/checkpoint", "/tile/0/000.p/1"):
            r = c.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), path
        assert c.get("/docs").status_code == 200
        assert "/v1/entries" in c.get("/openapi.json").json()["paths"]


def test_bad_parameters_are_problems_naming_the_parameter(world, tokens, serve):
    server = serve()
    with server.client(tokens["viewer"]) as c:
        for path, params, field in (
            ("/v1/coverage", {}, "system"),
            ("/v1/coverage", {"system": "credit-scoring", "as_of": "yesterday"}, "as_of"),
            ("/v1/gaps", {"system": "credit-scoring", "forecast": "soon"}, "forecast"),
            ("/v1/coverage", {"system": "credit-scoring", "framework": "nope"}, "--framework"),
            ("/v1/log", {"limit": "0"}, "limit"),
            ("/v1/proof/inclusion", {"seq": "999"}, "SEQ"),
        ):
            r = c.get(path, params=params)
            assert r.status_code == 400, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["field"] == field, r.json()
        assert c.get("/v1/systems/nope").status_code in (400, 404)


def test_tokens_over_http_for_admins(world, tokens, serve):
    server = serve()
    with server.client(tokens["admin"]) as c:
        made = c.post("/v1/tokens", json={"role": "viewer", "name": "dashboard", "expires": "30d"})
        assert made.status_code == 201 and made.json()["token"].startswith("assure_")
        with server.client(made.json()["token"]) as v:
            assert v.get("/v1/systems").status_code == 200
            assert c.delete(f"/v1/tokens/{made.json()['token_id']}").json()["state"] == "revoked"
            assert v.get("/v1/systems").status_code == 401
        listed = c.get("/v1/tokens").json()
        assert all("token" not in t and "sha256" not in json.dumps(t) for t in listed)
        assert c.post("/v1/tokens", json={"role": "root", "name": "x"}).status_code == 400


def test_a_framework_file_in_error_does_not_stop_the_server(world, tokens, serve, tmp_path):
    """Start-up loads the frameworks ahead of the first request (State.warm); a user file in
    error is reported by the requests that need the frameworks, naming the file, and the rest
    of the server works as before."""
    user = tmp_path / "frameworks"
    user.mkdir()
    (user / "ours.yaml").write_text("framework: [unclosed\n")
    server = serve("--frameworks-dir", str(user))
    with server.client(tokens["auditor"]) as c:
        coverage = c.get("/v1/coverage", params={"system": "credit-scoring"})
        assert coverage.status_code == 400 and "ours.yaml" in coverage.json()["detail"]
        assert c.get("/v1/systems").status_code == 200
    assert "not warmed" in server.log.read_text()
