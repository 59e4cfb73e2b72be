#!/usr/bin/env bash
# juru's memory once it holds 1 million messages. See BENCHMARKS.md.
#
#   bash bench/rss_1m.sh                          # ≈ 3 min, 6 GB of disk; not part of CI
#   MODE=webhooks RATE=300 bash bench/rss_1m.sh    # the fill through juru itself: ≈ 1 h
#
# 1. fill, MODE=prefill (default): `loadgen prefill` writes MESSAGES handled
#    messages straight into a fresh data directory with juru's own types and
#    key layout (seen mark, inbound audit record, read receipt, typing and text
#    reply records, delivery record; contact and conversation per sender);
#    MODE=webhooks: `juru serve` (default configuration, fake Graph API)
#    receives MESSAGES signed webhooks at RATE per second (paced so that the
#    replies keep up: an unpaced fill measures the reply backlog, not the data);
# 2. the tree sizes of the data directory are counted (juru stopped);
# 3. juru is started on that directory, loaded for DURATION s like in
#    bench/run.sh, and its VmRSS / VmHWM are read from /proc.
#
# Knobs: MODE (prefill), MESSAGES (1000000), RATE (300), CONNECTIONS (64),
# DURATION (10), PORT_BASE (18580), KEEP (1 keeps the data directory), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-prefill}
MESSAGES=${MESSAGES:-1000000}
RATE=${RATE:-300}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
PORT_BASE=${PORT_BASE:-18580}
KEEP=${KEEP:-0}
FILL_TIMEOUT=${FILL_TIMEOUT:-5400}
OUT=${OUT:-target/bench/rss-$(date -u +%Y%m%dT%H%M%SZ)}

source "$(dirname "$0")/common.sh"
mkdir -p "$OUT"
RESULTS=$OUT/rss.jsonl
: >"$RESULTS"
WORK=$(mktemp -d /tmp/juru-rss.XXXXXX)
# juru runs on its built-in defaults plus the JURU_* variables only.
: >"$WORK/empty.toml"
DATA=$WORK/juru
P_JURU=$PORT_BASE
P_GRAPH=$((PORT_BASE + 1))

cleanup() {
  stop_server
  if [[ $KEEP == 1 ]]; then echo "data kept in $DATA"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

SERVER_LIFETIME=$((FILL_TIMEOUT + 900))

# field FILE LABEL KEY — a top-level number of one JSON line (no jq needed).
field() { grep -F "\"label\":\"$2\"" "$1" | grep -o "\"$3\":[0-9.]*" | head -1 | cut -d: -f2; }
# stat_of KEY — a top-level figure (a tree's record count); the same keys recur under "record_bytes".
stat_of() { sed 's/"record_bytes":{[^}]*}//' "$OUT/stats.json" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
# bytes_of TREE — the bytes of that tree's records.
bytes_of() { grep -o '"record_bytes":{[^}]*}' "$OUT/stats.json" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }

mem() { awk -v k="$2:" '$1 == k {printf "%.1f", $2/1024}' "/proc/$1/status"; }

if [[ $MODE == webhooks ]]; then
  echo "== 1. fill: $MESSAGES webhooks through juru serve at $RATE/s ($CONNECTIONS connections)"
  start_juru "$OUT/juru-fill.log"
  "$BIN/loadgen" run --label fill --target "http://127.0.0.1:$P_JURU/api/whatsapp/cloud" \
    --connections "$CONNECTIONS" --total "$MESSAGES" --rate "$RATE" --duration "$FILL_TIMEOUT" \
    --phone-number-id "$PNID" --fake-graph-port "$P_GRAPH" --pid "$SERVER_PID" \
    --drain-timeout 900 --drain-idle 60 --progress 30 --json-out "$RESULTS" | tail -n +2
  FILL_RSS=$(mem "$SERVER_PID" VmRSS)
  FILL_HWM=$(mem "$SERVER_PID" VmHWM)
  stop_server
else
  echo "== 1. fill: $MESSAGES messages written straight into the store (loadgen prefill)"
  "$BIN/loadgen" prefill --data "$DATA" --messages "$MESSAGES" --phone-number-id "$PNID"
  FILL_RSS="-"
  FILL_HWM="-"
fi

echo "== 2. what is stored (juru stopped)"
"$BIN/loadgen" stats --data "$DATA" | tee "$OUT/stats.json"
DISK=$(du -sm "$DATA" | cut -f1)

echo "== 3. restart on the filled directory, then $DURATION s of load"
T0=$(date +%s.%N)
start_juru "$OUT/juru-after.log"
T1=$(date +%s.%N)
sleep 2
IDLE_RSS=$(mem "$SERVER_PID" VmRSS)
"$BIN/loadgen" run --label after-1m --target "http://127.0.0.1:$P_JURU/api/whatsapp/cloud" \
  --connections "$CONNECTIONS" --duration "$DURATION" --phone-number-id "$PNID" \
  --fake-graph-port "$P_GRAPH" --pid "$SERVER_PID" --json-out "$RESULTS" | tail -n +2
AFTER_RSS=$(mem "$SERVER_PID" VmRSS)
AFTER_HWM=$(mem "$SERVER_PID" VmHWM)
stop_server

{
  echo
  echo "| measure | value |"
  echo "| --- | ---: |"
  echo "| fill | $MODE, $MESSAGES messages |"
  echo "| records in \`messages\` (1 in + 3 out per message) | $(stat_of messages) |"
  echo "| bytes of the \`messages\` records | $(bytes_of messages) |"
  echo "| \`seen\` / \`contacts\` / \`delivery\` / \`inbox\` / \`outbox\` | $(stat_of seen) / $(stat_of contacts) / $(stat_of delivery) / $(stat_of inbox) / $(stat_of outbox) |"
  echo "| data directory on disk | ${DISK} MiB |"
  if [[ $MODE == webhooks ]]; then
    echo "| fill: acked webhooks/s | $(field "$RESULTS" fill acks_per_s) |"
    echo "| fill: juru VmRSS at the end / VmHWM | $FILL_RSS / $FILL_HWM MiB |"
  fi
  echo "| restart: time to healthy | $(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.1f s", b - a}') |"
  echo "| restart: VmRSS idle | $IDLE_RSS MiB |"
  echo "| restart + ${DURATION} s load: acked webhooks/s | $(field "$RESULTS" after-1m acks_per_s) |"
  echo "| restart + ${DURATION} s load: VmRSS / **VmHWM** | $AFTER_RSS / **$AFTER_HWM** MiB |"
  # Judged on the restarted process's peak (and, after a webhook fill, on the
  # filling process's RSS at its end, whichever is larger).
  awk -v a="${FILL_RSS/-/0}" -v h="$AFTER_HWM" 'BEGIN { m = (a > h ? a : h)
    printf "| target: RSS ≤ 100 MB (= 95.4 MiB) after 1 M messages | %.1f MiB: %s |\n", m, (m <= 95.4 ? "met" : "NOT met") }'
} | tee "$OUT/rss.md"
echo "results: $OUT"
