#!/usr/bin/env bash
# Open-loop load on `juru serve`: signed webhooks offered at fixed rates
# (`loadgen run --rate R`: request i is due at i/R s whatever juru's answers
# take), one fresh juru per rate, to see up to which rate juru holds the rate,
# acknowledges quickly and answers every message, and how long a customer
# waits for the reply. See BENCHMARKS.md ("Open loop").
#
#   bash bench/open_loop.sh                       # 4 rates × (30 s + drain)
#   RATES="300" DURATION=8 bash bench/open_loop.sh
#
# juru runs as in bench/run.sh's "juru": built-in defaults (read receipt and
# typing indicator on, coalescing window 1.5 s) plus the JURU_* variables of
# bench/common.sh, an empty config file, a fresh data directory per rate, and
# loadgen's fake Graph API for the replies.
#
# Knobs (environment):
#   RATES ("200 1000 3000 5000")  webhooks/s offered, one run each
#   DURATION (s, 30)              length of the load at each rate
#   CONNECTIONS (512)             the most connections open at once, opened as
#                                 needed; must exceed rate × ack latency, or the
#                                 rate slips (loadgen then warns, rate_held=false)
#   SENDERS (50000)               distinct senders (at 200/s each writes every 250 s)
#   LOADGEN_THREADS (1)
#   DRAIN_TIMEOUT (120)           s to wait after the load for the replies
#   PORT_BASE (18580)             juru listens on PORT_BASE, the fake Graph API on +1
#   OUT (results directory, default target/bench/open-<UTC time>)
# Results: $OUT/results.jsonl (one `loadgen run` line per rate), report.md,
# machine.txt, juru-<rate>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-200 1000 3000 5000}
DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-512}
SENDERS=${SENDERS:-50000}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
PORT_BASE=${PORT_BASE:-18580}
OUT=${OUT:-target/bench/open-$(date -u +%Y%m%dT%H%M%SZ)}

source "$(dirname "$0")/common.sh"
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
WORK=$(mktemp -d /tmp/juru-open-loop.XXXXXX)
# Built-in defaults plus JURU_* only, so edits to ./config.toml cannot change the figures.
: >"$WORK/empty.toml"

cleanup() {
  stop_server KILL
  rm -rf "$WORK"
}
trap cleanup EXIT

P_JURU=$PORT_BASE
P_GRAPH=$((PORT_BASE + 1))
# No juru started here lives longer than its load, drain and start-up.
SERVER_TIMEOUT=$((DURATION + DRAIN_TIMEOUT + 120))

{
  echo "date (UTC):   $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit:       $(git rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -z $(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] || echo ' + uncommitted changes in src/')"
  echo "cpu:          $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "kernel:       $(uname -r)"
  echo "data dirs on: $(df -T "$WORK" | awk 'NR==2 {print $2, $1}')"
  echo "load:         open loop, rates=($RATES)/s duration=${DURATION}s connections≤$CONNECTIONS senders=$SENDERS loadgen_threads=$LOADGEN_THREADS"
} | tee "$OUT/machine.txt"

for rate in $RATES; do
  label="juru-${rate}"
  data="$WORK/$label"
  log="$OUT/$label.log"
  port_free "$P_JURU" || { echo "port $P_JURU is in use; set PORT_BASE" >&2; exit 1; }
  port_free "$P_GRAPH" || { echo "port $P_GRAPH is in use; set PORT_BASE" >&2; exit 1; }
  # shellcheck disable=SC2046 # juru_env prints NAME=value words
  env $(juru_env "$P_JURU" "$P_GRAPH" "$data") "$BIN/juru" --config "$WORK/empty.toml" serve >"$log" 2>&1 &
  SERVER_PID=$!
  watchdog "$SERVER_PID" "$SERVER_TIMEOUT"
  if ! "$BIN/loadgen" wait --url "http://127.0.0.1:$P_JURU/healthz" --timeout 60; then
    echo "juru did not come up; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "== $label: $rate webhooks/s offered for $DURATION s (≤ $CONNECTIONS connections)"
  "$BIN/loadgen" run --label "$label" \
    --target "http://127.0.0.1:$P_JURU/api/whatsapp/cloud" \
    --rate "$rate" --duration "$DURATION" --connections "$CONNECTIONS" --senders "$SENDERS" \
    --phone-number-id "$PNID" --threads "$LOADGEN_THREADS" \
    --fake-graph-port "$P_GRAPH" --drain-timeout "$DRAIN_TIMEOUT" \
    --pid "$SERVER_PID" --clk-tck "$(getconf CLK_TCK)" \
    --json-out "$RESULTS" | tail -n +2
  stop_server
  rm -rf "$data"
done

echo
"$BIN/loadgen" report --open-loop "$RESULTS" | tee "$OUT/report.md"
echo
echo "results: $OUT (results.jsonl, report.md, machine.txt, server logs)"
