#!/usr/bin/env bash
# The main job end to end on an embedded SQLite ledger: keys, init, pipeline
# evidence signed offline, approvals, a signed checkpoint, and verification.
# Everything is written under demo/out/ (recreated on every run).
set -euo pipefail
cd "$(dirname "$0")"
OUT=out
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
assure keys trust "$OUT/keys/ci.pem.pub" --role pipeline --owner "ci: credit-scoring pipeline" --key "$OUT/keys/admin.pem"
assure keys trust "$OUT/keys/approver.pem.pub" --role approver --owner "RAI lead" --key "$OUT/keys/admin.pem"
assure keys trust "$OUT/keys/approver2.pem.pub" --role approver --owner "Head of Risk" --key "$OUT/keys/admin.pem"

step "Register AI systems"
assure append records/systems.yaml --key "$OUT/keys/admin.pem"

step "CI signs its evidence offline (no database), then appends the envelopes"
assure sign records/pipeline.yaml --key "$OUT/keys/ci.pem" -o "$OUT/pipeline.envelopes.jsonl"
assure append "$OUT/pipeline.envelopes.jsonl" --json > "$OUT/pipeline.receipts.json"
echo "  receipts (seq, hash, inclusion proof): $OUT/pipeline.receipts.json"

step "Approver appends a risk assessment and an exception"
assure append records/risk.yaml --key "$OUT/keys/approver.pem"

step "Release approval of model 2.1.0 by a second approver"
MV_HASH=$(assure log --kind model_version --system credit-scoring --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["entry_hash"])')
cat > "$OUT/approval.yaml" <<YAML
kind: approval
system: credit-scoring
observed_at: 2026-10-06T10:00:00Z
target: $MV_HASH
decision: approve
conditions: [Monitor approval-rate parity weekly for the first month]
YAML
assure append "$OUT/approval.yaml" --key "$OUT/keys/approver2.pem"

step "A replayed envelope is refused (exit 2, nothing written)"
if assure append "$OUT/pipeline.envelopes.jsonl" 2>"$OUT/replay.err"; then
  echo "  unexpected: replay accepted" && exit 1
fi
sed 's/^/  /' "$OUT/replay.err"

step "The ledger"
assure log

step "Signed checkpoint (C2SP tlog-checkpoint note), kept outside the database"
assure checkpoint --key "$OUT/keys/admin.pem" -o "$OUT/checkpoint.txt"

step "Verify every hash, the chain, the Merkle tree and every signature"
assure verify --against "$OUT/checkpoint.txt"

printf '\nDemo files in %s/:\n' "$(pwd)/$OUT"
printf '  ledger.db         the SQLite ledger (ASSURE_DB=%s)\n' "$ASSURE_DB"
printf '  keys/             Ed25519 keys (private .pem mode 0600, public .pem.pub)\n'
printf '  checkpoint.txt    signed tree head; check later with: assure verify --against %s/checkpoint.txt\n' "$OUT"
printf '  pipeline.*        the CI envelopes and their receipts\n'
