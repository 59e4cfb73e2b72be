# Shared by bench/run.sh, bench/rss_1m.sh and bench/dashboard.sh (sourced, not run).

# Shared by the servers and the load generator (loopback only, not secrets).
export BENCH_APP_SECRET=bench-app-secret
export BENCH_ACCESS_TOKEN=bench-access-token
PNID=100000000000001
export RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0

echo "== building (cargo build --release --bins)"
cargo build --release --bins
BIN=${BIN:-target/release}

SERVER_PID=""
WATCHDOG_PID=""

stop_server() { # [TERM|KILL]
  local sig=${1:-TERM}
  if [[ -n $SERVER_PID ]]; then
    kill -"$sig" "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "   server $SERVER_PID did not stop in 20 s; killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    { wait "$SERVER_PID"; } 2>/dev/null || true
    SERVER_PID=""
  fi
  if [[ -n $WATCHDOG_PID ]]; then
    kill "$WATCHDOG_PID" 2>/dev/null || true
    { wait "$WATCHDOG_PID"; } 2>/dev/null || true
    WATCHDOG_PID=""
  fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# watchdog PID SECONDS — kills the server if it outlives SECONDS.
watchdog() {
  local pid=$1 limit=$2
  (
    for _ in $(seq 1 "$limit"); do
      sleep 1
      kill -0 "$pid" 2>/dev/null || exit 0
    done
    echo "   watchdog: server $pid ran longer than ${limit} s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  ) &
  WATCHDOG_PID=$!
}

juru_env() { # PORT GRAPH_PORT DATA_DIR
  echo JURU_SERVER__LISTEN="127.0.0.1:$1" \
    JURU_STORAGE__PATH="$3" \
    JURU_CLOUD__GRAPH_BASE_URL="http://127.0.0.1:$2" \
    JURU_CLOUD__ACCESS_TOKEN="$BENCH_ACCESS_TOKEN" \
    JURU_CLOUD__APP_SECRET="$BENCH_APP_SECRET" \
    JURU_CLOUD__PHONE_NUMBER_ID="\"$PNID\"" \
    JURU_CLOUD__VERIFY_TOKEN=bench-verify-token \
    JURU_CLOUD__MAX_MPS=100000
}

# start_juru LOG — `juru serve` on $DATA (built-in defaults plus JURU_* only:
# $WORK/empty.toml) at $P_JURU, replies to the fake Graph API at $P_GRAPH;
# killed after $SERVER_LIFETIME s; returns once /healthz answers.
start_juru() {
  port_free "$P_JURU" || { echo "port $P_JURU in use" >&2; exit 1; }
  # shellcheck disable=SC2046 # juru_env prints NAME=value words
  env $(juru_env "$P_JURU" "$P_GRAPH" "$DATA") "$BIN/juru" --config "$WORK/empty.toml" serve >>"$1" 2>&1 &
  SERVER_PID=$!
  watchdog "$SERVER_PID" "${SERVER_LIFETIME:-900}"
  "$BIN/loadgen" wait --url "http://127.0.0.1:$P_JURU/healthz" --timeout 600 || { cat "$1" >&2; exit 1; }
}
