#!/usr/bin/env bash
# The main job end to end on an embedded SQLite ledger: keys, init, pipeline
# evidence signed offline, approvals, a signed checkpoint, and verification.
# Everything is written under demo/out/ (recreated on every run).
set -euo pipefail
cd "$(dirname "$0")"
OUT="$(pwd)/out"
rm -rf "$OUT" && mkdir -p "$OUT/keys"
export ASSURE_DB="sqlite:///$OUT/ledger.db"
step() { printf '\n== %s\n' "$*"; }

step "Generate keys (private files mode 0600)"
for who in admin ci approver approver2; do
  assure keys generate --out "$OUT/keys/$who.pem" >/dev/null 2>&1
  echo "  $who: $OUT/keys/$who.pem(.pub)"
done

step "Initialise the ledger (schema by Alembic, genesis entry trusts the admin key)"
assure init --admin-key "$OUT/keys/admin.pem" --origin demo.assure.example/ledger
assure keys trust "$OUT/keys/ci.pem.pub" --role pipeline --owner "ci: model pipelines" \
  --system credit-scoring --system support-chatbot --key "$OUT/keys/admin.pem"  # scoped: signs for these only
assure keys trust "$OUT/keys/approver.pem.pub" --role approver --owner "RAI lead" --key "$OUT/keys/admin.pem"
assure keys trust "$OUT/keys/approver2.pem.pub" --role approver --owner "Head of Risk" --key "$OUT/keys/admin.pem"

step "Register AI systems"
assure append records/systems.yaml --key "$OUT/keys/admin.pem"

step "CI signs its evidence offline (no database), then appends the envelopes"
assure sign records/pipeline.yaml --key "$OUT/keys/ci.pem" -o "$OUT/pipeline.envelopes.jsonl"
assure append "$OUT/pipeline.envelopes.jsonl" --json > "$OUT/pipeline.receipts.json"
echo "  receipts (seq, hash, inclusion proof): $OUT/pipeline.receipts.json"

step "Approver appends a risk assessment; the admin files an exception (risk acceptance)"
assure append records/risk.yaml --key "$OUT/keys/approver.pem"
assure append records/exception.yaml --key "$OUT/keys/admin.pem"

hash_of() {  # hash_of KIND SYSTEM: entry hash of the newest record of that kind
  assure log --kind "$1" --system "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["entry_hash"])'
}
approval() {  # approval TARGET_HASH FILE: an approval record of that entry
  cat > "$2" <<YAML
kind: approval
system: credit-scoring
observed_at: 2026-10-06T10:00:00Z
target: $1
decision: approve
conditions: [Monitor approval-rate parity weekly for the first month]
YAML
}

step "Two distinct approvers approve the exception and the release of model 2.1.0 (high risk: two needed)"
approval "$(hash_of exception credit-scoring)" "$OUT/approve-exception.yaml"
approval "$(hash_of model_version credit-scoring)" "$OUT/approve-release.yaml"
for who in approver approver2; do
  assure append "$OUT/approve-exception.yaml" "$OUT/approve-release.yaml" --key "$OUT/keys/$who.pem" >/dev/null
  echo "  approved by $who"
done

step "A replayed envelope is refused (exit 2, nothing written)"
if assure append "$OUT/pipeline.envelopes.jsonl" 2>"$OUT/replay.err"; then
  echo "  unexpected: replay accepted" && exit 1
fi
sed 's/^/  /' "$OUT/replay.err"

step "The pipeline tries to withdraw its failing robustness run: it may ask, but the run stays in force"
robust=$(assure log --kind evaluation --system credit-scoring --json | python3 -c 'import json,sys; print([r for r in json.load(sys.stdin) if r["subtype"] == "robustness"][-1]["entry_hash"])')
cat > "$OUT/retract-robustness.yaml" <<YAML
kind: retract
system: credit-scoring
observed_at: 2026-10-06T11:00:00Z
target: $robust
reason: flaky test environment
YAML
assure append "$OUT/retract-robustness.yaml" --key "$OUT/keys/ci.pem" >/dev/null
assure systems show credit-scoring | grep '^pending' | sed 's/^/  /'
echo "  (withdrawing a failing evaluation needs two approvers for a high-risk system; none has approved)"

step "Evidence dated in the future is refused (exit 2, nothing written)"
sed 's/observed_at: .*/observed_at: 2099-01-01T00:00:00Z/' "$OUT/retract-robustness.yaml" > "$OUT/future.yaml"
if assure append "$OUT/future.yaml" --key "$OUT/keys/ci.pem" 2>"$OUT/future.err"; then
  echo "  unexpected: future-dated record accepted" && exit 1
fi
sed 's/^/  /' "$OUT/future.err"

step "The ledger"
assure log

step "Coverage of credit-scoring against NIST AI RMF, ISO/IEC 42001 and the EU AI Act (as of today)"
assure coverage --system credit-scoring --summary
echo "  ...and on 2027-12-02, when the EU AI Act's Annex III high-risk obligations apply:"
assure coverage --system credit-scoring --framework eu-ai-act --summary --as-of 2027-12-02T12:00:00Z | tail -1

step "Release gate for credit-scoring 2.1.0 (what CI calls before deploying; exit 1 = blocked)"
assure checkpoint --key "$OUT/keys/admin.pem" -o "$OUT/checkpoint-before-gate.txt" >/dev/null
assure gate --system credit-scoring --model-version 2.1.0 --sign "$OUT/keys/approver.pem" -o "$OUT/gate.intoto.json" | head -8 \
  || true
echo "  (full list: assure gate --system credit-scoring --model-version 2.1.0; signed verdict: $OUT/gate.intoto.json)"
echo "  A deploy job checks the signed verdict offline, pinning the approver's key and a checkpoint it holds:"
if env -u ASSURE_DB assure verify-gate "$OUT/gate.intoto.json" --trust-key "$OUT/keys/approver.pem.pub" \
    --checkpoint "$OUT/checkpoint-before-gate.txt" --ledger-key "$OUT/keys/admin.pem.pub" 2>&1 | head -2 | sed 's/^/  /'; then :; fi

step "Exceptions expiring within 60 days"
assure exceptions --expiring 60d

step "Governance KPIs"
assure kpis

step "The HTTP API: 'assure serve' on a free loopback port; CI pushes with a pipeline token, a dashboard reads coverage"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PIPELINE_TOKEN=$(assure tokens create --role pipeline --name "ci: nightly evals" --expires 90d 2>/dev/null)
VIEWER_TOKEN=$(assure tokens create --role viewer --name "GRC dashboard" 2>/dev/null)
assure serve --port "$PORT" --public-tiles --checkpoint-key "$OUT/keys/admin.pem" --no-access-log >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q "running on" "$OUT/serve.log" && break; sleep 0.1; done
echo "  serving on http://127.0.0.1:$PORT (tokens: assure tokens list)"
assure sign records/nightly.yaml --key "$OUT/keys/ci.pem" -o "$OUT/nightly.envelopes.jsonl" 2>/dev/null
ASSURE_TOKEN="$PIPELINE_TOKEN" assure push "$OUT/nightly.envelopes.jsonl" --server "http://127.0.0.1:$PORT" \
  --json > "$OUT/nightly.receipts.json"
python3 - "$OUT/nightly.receipts.json" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["entries"]:
    print(f"  pushed: seq {e['seq']} {e['kind']} ({e['status']}), inclusion proof against tree size in the receipt")
PY
echo "  the same push again (a CI retry) is answered with the original receipts:"
ASSURE_TOKEN="$PIPELINE_TOKEN" assure push "$OUT/nightly.envelopes.jsonl" --server "http://127.0.0.1:$PORT" | sed -n '1s/^/    /p'
echo "  coverage of support-chatbot over HTTP (viewer token):"
python3 - "http://127.0.0.1:$PORT" "$VIEWER_TOKEN" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1:]
req = urllib.request.Request(f"{url}/v1/coverage?system=support-chatbot&details=false",
                             headers={"Authorization": f"Bearer {token}"})
for f in json.load(urllib.request.urlopen(req))["frameworks"]:
    print(f"    {f['framework']:12} {f['percent_covered']:5}% of {f['applicable']} applicable")
req = urllib.request.Request(f"{url}/checkpoint")  # public with --public-tiles: what witnesses fetch
print("    checkpoint (no token):", " / ".join(urllib.request.urlopen(req).read().decode().splitlines()[:2]))
PY
echo "  a viewer token cannot post, and an envelope signed by an untrusted key is refused whatever the token:"
ASSURE_TOKEN="$VIEWER_TOKEN" assure push "$OUT/nightly.envelopes.jsonl" --server "http://127.0.0.1:$PORT" 2>&1 \
  | sed 's/^/    /' || true
assure keys generate --out "$OUT/keys/stranger.pem" >/dev/null 2>&1
assure sign records/nightly.yaml --key "$OUT/keys/stranger.pem" -o "$OUT/stranger.envelopes.jsonl" 2>/dev/null
ASSURE_TOKEN="$PIPELINE_TOKEN" assure push "$OUT/stranger.envelopes.jsonl" --server "http://127.0.0.1:$PORT" 2>&1 \
  | sed 's/^/    /' || true
kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
trap - EXIT
echo "  server stopped"

step "OSCAL for GRC tools: assessment results, catalogs, the AI 600-1 profile and the crosswalks, checked with compliance-trestle"
assure export oscal --system credit-scoring -o "$OUT/oscal"
python -m interop.validate "$OUT/oscal" | sed 's/^/  /'

step "MLflow: the support bot's registered version and its safety run, read from a local MLflow store and signed"
MLFLOW_URI=$(python mlflow_store.py "$OUT/mlflow")
ingest_bot() {
  assure ingest mlflow --tracking-uri "$MLFLOW_URI" --model support-bot --alias champion --system support-chatbot \
    --key "$OUT/keys/ci.pem" --thresholds records/mlflow-thresholds.yaml "$@" | sed 's/^/  /'
}
ingest_bot
echo "  run again, nothing new is appended (the records' bytes and idempotency keys are the same):"
ingest_bot | head -1

step "Signed checkpoint (C2SP tlog-checkpoint note), kept outside the database"
assure checkpoint --key "$OUT/keys/admin.pem" -o "$OUT/checkpoint.txt"

step "Verify every hash, the chain, the Merkle tree and every signature"
assure verify --against "$OUT/checkpoint.txt"

step "Audit package for credit-scoring: audit.pdf, bundle.json and a manifest signed with the ledger key"
assure package --system credit-scoring --key "$OUT/keys/admin.pem" -o "$OUT/audit-package.zip"

step "An auditor verifies it offline (no database), pinning the ledger key and an earlier checkpoint"
env -u ASSURE_DB assure verify-package "$OUT/audit-package.zip" \
  --trust-key "$OUT/keys/admin.pem.pub" --checkpoint "$OUT/checkpoint.txt"

step "Verified against nothing the auditor holds, the same package is not OK (exit 1): it is unanchored"
if env -u ASSURE_DB assure verify-package "$OUT/audit-package.zip" >/dev/null 2>"$OUT/unanchored.err"; then
  echo "  unexpected: unanchored package accepted" && exit 1
fi
grep '^FAILED' "$OUT/unanchored.err" | cut -c1-160 | sed 's/^/  /'

step "A database owner hides the failing run by editing its projection row: the package is refused"
python3 - "$OUT/ledger.db" <<'PY'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as db:
    db.execute("UPDATE record SET system = 'elsewhere' WHERE kind = 'evaluation' AND passed = 0")
PY
if assure package --system credit-scoring --key "$OUT/keys/admin.pem" -o "$OUT/hidden.zip" 2>"$OUT/hidden.err"; then
  echo "  unexpected: a package was built over a hidden record" && exit 1
fi
sed 's/^/  /' "$OUT/hidden.err" | cut -c1-200
assure verify >/dev/null 2>&1 && { echo "  unexpected: verify accepted the edited projection"; exit 1; }
echo "  'assure verify' names the edited row too; 'assure reindex' rebuilds the projections from the entries:"
assure reindex | sed 's/^/  /'
assure verify | sed -n '1s/^/  /p'

step "A package altered after signing is refused (exit 1, naming what changed)"
python3 - "$OUT/audit-package.zip" "$OUT/tampered-package.zip" <<'PY'
import re, sys, zipfile
src, dst = sys.argv[1:]
with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
    for name in z.namelist():
        data = z.read(name)
        if name == "bundle.json":  # claim full coverage of the first framework
            data = re.sub(rb'"percent_covered": [0-9.]+', b'"percent_covered": 100.0', data, count=1)
        out.writestr(name, data)
PY
if env -u ASSURE_DB assure verify-package "$OUT/tampered-package.zip" --trust-key "$OUT/keys/admin.pem.pub" \
    >/dev/null 2>"$OUT/tampered.err"; then
  echo "  unexpected: tampered package accepted" && exit 1
fi
sed 's/^/  /' "$OUT/tampered.err"

step "An outside verifier written from docs/format.md alone (standard library + cryptography, none of Assure's code)"
(cd .. && python -m tests.format.independent_verifier "$OUT/ledger.db" "$OUT/audit-package.zip" \
   "$OUT/keys/admin.pem.pub") | sed 's/^/  /'

printf '\nDemo files in %s/:\n' "$OUT"
printf '  ledger.db         the SQLite ledger (ASSURE_DB=%s)\n' "$ASSURE_DB"
printf '  keys/             Ed25519 keys (private .pem mode 0600, public .pem.pub)\n'
printf '  checkpoint.txt    signed tree head; check later with: assure verify --against %s/checkpoint.txt\n' "$OUT"
printf '  pipeline.*        the CI envelopes and their receipts\n'
printf '  oscal/            OSCAL 1.2.1: assessment-results.json (+ proofs/), catalogs/, profiles/, mapping-collection.json\n'
printf '  web.log           the web view server'"'"'s log\n'
printf '  nightly.*         envelopes pushed to assure serve, and their receipts; serve.log its log\n'
printf '  mlflow/           the local MLflow store the support bot was ingested from (%s)\n' "$MLFLOW_URI"
printf '  audit-package.zip audit.pdf + bundle.json + signed manifest; check with: assure verify-package %s/audit-package.zip --trust-key %s/keys/admin.pem.pub\n' "$OUT" "$OUT"

step "The web view over the demo ledger (assure serve): sign in with the viewer token below"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WEB_TOKEN=$(assure tokens create --role viewer --name "demo: web view" 2>/dev/null)
assure serve --port "$PORT" --checkpoint-key "$OUT/keys/admin.pem" --no-access-log >"$OUT/web.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q "running on" "$OUT/web.log" && break; sleep 0.1; done
assure exceptions --json > "$OUT/exceptions.json"
python3 - "http://127.0.0.1:$PORT" "$WEB_TOKEN" "$OUT/exceptions.json" <<'PY'
import json, re, sys, urllib.request
url, token, cli = sys.argv[1:]
req = urllib.request.Request(f"{url}/web/exceptions", headers={"Authorization": f"Bearer {token}"})
html = urllib.request.urlopen(req).read().decode()
days = re.findall(r'class="days-left">([^<]*)<', html)
expected = [str(x["days_left"]) if x["days_left"] is not None else "–" for x in json.load(open(cli))]
same = "the same as" if sorted(days) == sorted(expected) else "NOT what"
print(f"  /web/exceptions shows {len(days)} exception(s), days left {', '.join(days)}: {same} 'assure exceptions' says")
# The calendar feed's address, as the Systems page gives it: a feed key, never the token itself.
req = urllib.request.Request(f"{url}/web/", headers={"Authorization": f"Bearer {token}"})
feed = url + re.search(r'href="(/web/calendar\.ics\?feed=[^"]+)"', urllib.request.urlopen(req).read().decode()).group(1)
events = urllib.request.urlopen(feed).read().decode().count("BEGIN:VEVENT")
print(f"  calendar:     {feed}\n                (its key opens this feed only; {events} events now)")
PY
echo "  web view:     http://127.0.0.1:$PORT/web/"
echo "  viewer token: $WEB_TOKEN"
echo "  (an auditor also sees payloads and builds packages: assure tokens create --role auditor --name NAME)"
if [ "${KEEP_SERVING:-0}" = 1 ]; then
  echo "  KEEP_SERVING=1: serving until Ctrl-C"
  wait "$SERVER_PID" || true
else
  kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
  echo "  server stopped (run 'KEEP_SERVING=1 make demo' to keep it running)"
fi
trap - EXIT
