#!/usr/bin/env bash
# GET /api/marketing/dashboard latency on a full store. See BENCHMARKS.md.
#
#   bash bench/dashboard.sh        # ≈ 5 min, 6 GB of disk; not part of CI
#
# 1. `loadgen prefill` writes MESSAGES handled messages from SENDERS senders
#    (a contact and a conversation state each) into a fresh data directory;
# 2. `juru serve` starts on it (the dashboard figures are loaded once);
# 3. `loadgen probe` sends REQUESTS sequential GETs on one connection.
#
# Knobs: MESSAGES (1000000), SENDERS (100000), REQUESTS (2000), PORT_BASE (18680), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-1000000}
SENDERS=${SENDERS:-100000}
REQUESTS=${REQUESTS:-2000}
PORT_BASE=${PORT_BASE:-18680}
OUT=${OUT:-target/bench/dashboard-$(date -u +%Y%m%dT%H%M%SZ)}

source "$(dirname "$0")/common.sh"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/juru-dash.XXXXXX)
: >"$WORK/empty.toml"
DATA=$WORK/juru
P_JURU=$PORT_BASE
P_GRAPH=$((PORT_BASE + 1))
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== 1. fill: $MESSAGES messages from $SENDERS senders (loadgen prefill)"
started=$(date +%s)
"$BIN/loadgen" prefill --data "$DATA" --messages "$MESSAGES" --senders "$SENDERS" --phone-number-id "$PNID"
echo "   filled in $(($(date +%s) - started)) s; $(du -sh "$DATA" | cut -f1) on disk"

echo "== 2. juru serve on it"
started=$(date +%s%N)
start_juru "$OUT/juru.log"
echo "   ready in $((($(date +%s%N) - started) / 1000000)) ms"

echo "== 3. $REQUESTS × GET /api/marketing/dashboard"
"$BIN/loadgen" probe --url "http://127.0.0.1:$P_JURU/api/marketing/dashboard" --requests "$REQUESTS" | tee "$OUT/dashboard.json"
