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
start_one_side "$SIDE" "$SCRIPT" "$TARGET" "$PORT" bench/results/commands-server.log
cookies=$COOKIES
redis-cli -u "$REDIS_URL" config resetstat >/dev/null
WRK_PATH=$TARGET WRK_COOKIES=$cookies wrk -t1 -c16 -d"${SECS}s" -s "bench/results/$SCRIPT.lua" \
  "http://127.0.0.1:$PORT" >bench/results/commands.wrk
requests=$(awk '/requests in/{print $1}' bench/results/commands.wrk)
echo "$SIDE $SCRIPT $TARGET: $requests requests"
redis-cli -u "$REDIS_URL" info commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$requests" '
  /^cmdstat_/ && $1 !~ /config/ {
    printf "  %-16s %5.2f calls/request  %6.2f us/call  %6.2f us/request\n",
      substr($1, 9), $3 / n, $7, $5 / n }'
