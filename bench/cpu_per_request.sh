#!/usr/bin/env bash
# CPU time per request of one side of examples/bench_server.rs under wrk, and of Redis and
# Postgres meanwhile: utime + stime of each process over the run, divided by the requests.
#
#   bench/cpu_per_request.sh SIDE SCRIPT PATH [SECONDS]
#   e.g. bench/cpu_per_request.sh library add /cache/cart/items 4
#
# SIDE is library or hand-written, SCRIPT read or add (the wrk scripts bench/load.sh writes into
# bench/results: run it once first). Seeds 64 sessions with one line each through
# <driver prefix>/cart/items, as bench/load.sh does. Talks to 127.0.0.1 only, bounded by wrk -d.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
SIDE=$1 SCRIPT=$2 TARGET=$3 SECS=${4:-4} PORT=${PORT:-3960}
start_one_side "$SIDE" "$SCRIPT" "$TARGET" "$PORT" bench/results/cpu-server.log
cookies=$COOKIES
# A process may end between listing and reading: it counts 0 then.
ticks() {
  local t=0 p v
  for p in "$@"; do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null); t=$((t + ${v:-0})); done
  echo "$t"
}
others() { for p in /proc/[0-9]*; do grep -qE '^(redis-server|postgres)' "$p/comm" 2>/dev/null && echo "${p#/proc/}"; done; return 0; }
load() { WRK_PATH=$TARGET WRK_COOKIES=$cookies wrk -t1 -c16 -d"$1" -s "bench/results/$SCRIPT.lua" "http://127.0.0.1:$PORT"; }
# A first second of load opens the server's pool connections, so that the Postgres backends
# serving the measured run exist when the processes are listed.
load 1s >/dev/null
OTHERS=$(others | tr '\n' ' ')
s0=$(ticks $SERVER); o0=$(ticks $OTHERS)
out=$(load "${SECS}s")
s1=$(ticks $SERVER); o1=$(ticks $OTHERS)
requests=$(echo "$out" | awk '/requests in/{print $1}')
hz=$(getconf CLK_TCK)
echo "$SIDE $SCRIPT $TARGET: $(echo "$out" | awk '/Requests\/sec/{print $2}') req/s," \
  "server $(( (s1 - s0) * 1000000 / hz / requests )) us/request," \
  "redis+postgres $(( (o1 - o0) * 1000000 / hz / requests )) us/request" \
  "$(echo "$out" | grep -E 'Non-2xx|Socket' | tr '\n' ' ')"
