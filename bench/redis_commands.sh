#!/usr/bin/env bash
# Redis commands per request of one side of examples/bench_server.rs under wrk: calls and Redis's
# own time (INFO commandstats) per request, for each command.
#
#   bench/redis_commands.sh SIDE SCRIPT PATH [SECONDS]
#   e.g. bench/redis_commands.sh library add /cache/cart/items 3
#
# SIDE is library or hand-written, SCRIPT read or add (the wrk scripts bench/load.sh writes into
# bench/results: run it once first). Resets Redis's command statistics (CONFIG RESETSTAT) at
# REDIS_URL: run it against a Redis of your own. Talks to 127.0.0.1 only, bounded by wrk -d.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
SIDE=$1 SCRIPT=$2 TARGET=$3 SECS=${4:-3} PORT=${PORT:-3961}
SEED="/${TARGET#/}"; SEED="${SEED%%/cart*}/cart/items"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
[ -f bench/results/$SCRIPT.lua ] || { echo "run bench/load.sh first (it writes the wrk scripts)"; exit 2; }
cargo build --release --quiet --example bench_server
PORT=$PORT ./target/release/examples/bench_server "$SIDE" >bench/results/commands-server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q listening bench/results/commands-server.log && break; sleep 0.1; done
cookies=$(session_cookies "http://127.0.0.1:$PORT" "$SEED")
redis-cli -u "$REDIS_URL" config resetstat >/dev/null
WRK_PATH=$TARGET WRK_COOKIES=$cookies wrk -t1 -c16 -d"${SECS}s" -s "bench/results/$SCRIPT.lua" \
  "http://127.0.0.1:$PORT" >bench/results/commands.wrk
requests=$(awk '/requests in/{print $1}' bench/results/commands.wrk)
echo "$SIDE $SCRIPT $TARGET: $requests requests"
redis-cli -u "$REDIS_URL" info commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$requests" '
  /^cmdstat_/ && $1 !~ /config/ {
    printf "  %-16s %5.2f calls/request  %6.2f us/call  %6.2f us/request\n",
      substr($1, 9), $3 / n, $7, $5 / n }'
