# What the load scripts of bench/ share; sourced, not run.

# session_cookies BASE ADD_PATH: $SESSIONS (default 64) fresh sessions, each with one cart line
# added through BASE + ADD_PATH, as wrk's cookie headers (`id=...`, comma-separated).
session_cookies() {
  local jar cookies=""
  for _ in $(seq 1 "${SESSIONS:-64}"); do
    jar=$(mktemp)
    curl -sf -o /dev/null -c "$jar" -H 'content-type: application/json' \
      -d '{"id":"sku-0","quantity":1}' "$1$2" || { echo "seeding $1$2 failed" >&2; rm -f "$jar"; exit 1; }
    cookies="$cookies${cookies:+,}$(awk '$6=="id"{print "id="$7}' "$jar")"
    rm -f "$jar"
  done
  echo "$cookies"
}

# wrk_summary NAME LABEL WRK_OUTPUT: one line "name label rps p50 p99 non2xx socket_errors" of a
# `wrk --latency` run.
wrk_summary() {
  awk -v name="$1" -v label="$2" '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    /Non-2xx/ { non2xx = $5 }
    /Socket errors/ { gsub(",", ""); sockets = $4 + $6 + $8 + $10 }
    END { print name, label, rps, p50, p99, non2xx + 0, sockets + 0 }' "$3"
}

# start_one_side SIDE SCRIPT TARGET PORT LOG: for the scripts that measure one side of
# examples/bench_server.rs under wrk. Builds it and starts SIDE on PORT (its pid in SERVER, killed
# when the script exits, output in LOG), waits until it listens, and seeds $SESSIONS sessions
# through TARGET's driver prefix (their cookies in COOKIES). SCRIPT names the wrk script that
# bench/load.sh writes into bench/results.
start_one_side() {
  local side=$1 script=$2 target=$3 port=$4 log=$5 seed
  seed="/${target#/}"; seed="${seed%%/cart*}/cart/items"
  export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
  export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  [ -f "bench/results/$script.lua" ] || { echo "run bench/load.sh first (it writes the wrk scripts)"; exit 2; }
  cargo build --release --quiet --example bench_server
  PORT=$port ./target/release/examples/bench_server "$side" >"$log" 2>&1 &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do grep -q listening "$log" && break; sleep 0.1; done
  COOKIES=$(session_cookies "http://127.0.0.1:$port" "$seed")
}

# layer_bench: builds benches/layer.rs (release) and prints its executable, which runs one
# scenario per LAYER_BENCH_COUNT (see the bench).
layer_bench() {
  cargo bench --quiet --bench layer --no-run 2>/dev/null
  cargo bench --bench layer --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "layer" and m.get("executable"):
        print(m["executable"])'
}

# need TOOL [PACKAGE]: installs the Debian package PACKAGE (default TOOL) when TOOL is missing.
need() {
  command -v "$1" >/dev/null && return
  echo "installing ${2:-$1} (Debian package)"
  apt-get update -qq && apt-get install -y -qq "${2:-$1}" >/dev/null
}
