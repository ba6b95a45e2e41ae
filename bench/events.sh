#!/usr/bin/env bash
# Add throughput with the durable event log on against off, measured in the same run: two
# library servers (examples/bench_server.rs), one with EVENT_LOG=1, one without, driven alike.
#
#   bench/events.sh [seconds-per-run] [rounds]      (defaults: 2 s, 25 rounds)
#
# Scenarios: {cache,database}_add, POST /<driver>/cart/items {id, quantity} on 64 carts seeded
# once per server (one visitor per session), kept for every round. Needs Redis at REDIS_URL and Postgres at DATABASE_URL
# (./scripts/test --services-only starts both); psql and redis-cli count the events written.
#
# Servers alternate which goes first between rounds, so drift on a shared machine hits both
# alike; the goal is on the median of the rounds' on/off ratios (the ratio of the medians is
# printed too). Exit status: 1 when any run had a non-2xx answer or a
# socket error, or the log-on server logged nothing; 3 when a ratio missed its goal (>= 0.9);
# 0 otherwise. The report goes to bench/results/events.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
SECONDS_PER_RUN=${1:-2}
ROUNDS=${2:-25}
CONNECTIONS=${CONNECTIONS:-16}
SESSIONS=${SESSIONS:-64}
OFF_PORT=${OFF_PORT:-3910}
ON_PORT=${ON_PORT:-3911}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=bench/results
mkdir -p "$OUT"
COMMAND="bench/events.sh $SECONDS_PER_RUN $ROUNDS"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --example bench_server

redis_port=${REDIS_URL##*:}; redis_port=${redis_port%%/*}
events_logged() { # -> "postgres redis"
  local pg redis
  pg=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM carts_events" 2>/dev/null || echo 0)
  redis=$(redis-cli -p "$redis_port" XLEN cart:events 2>/dev/null || echo 0)
  echo "$pg $redis"
}

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
start() { # NAME PORT EVENT_LOG
  local log="$OUT/events-server-$1.log"
  EVENT_LOG=$3 PORT=$2 "$TARGET/release/examples/bench_server" library >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do grep -q listening "$log" && return 0; sleep 0.1; done
  echo "bench server ($1) did not start"; cat "$log"; exit 1
}
start off "$OFF_PORT" 0
start on "$ON_PORT" 1
read -r PG_BEFORE REDIS_BEFORE <<<"$(events_logged)"


cat >"$OUT/events-add.lua" <<'LUA'
cookies = {}
for cookie in string.gmatch(os.getenv("WRK_COOKIES") or "", "[^,]+") do table.insert(cookies, cookie) end
counter = 0
local path = os.getenv("WRK_PATH")
request = function()
  counter = counter + 1
  local cookie = cookies[(counter % #cookies) + 1]
  local body = '{"id":"sku-' .. (counter % 50) .. '","quantity":1}'
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Cookie"] = cookie}, body)
end
LUA

# Sessions are seeded once per server and driver and reused by every round, so that a round is
# only its two wrk runs back to back (short runs, many rounds: drift has less time to act).
declare -A COOKIES
for driver in cache database; do
  COOKIES[$driver-on]=$(session_cookies "http://127.0.0.1:$ON_PORT" "/$driver/cart/items")
  COOKIES[$driver-off]=$(session_cookies "http://127.0.0.1:$OFF_PORT" "/$driver/cart/items")
done

# run NAME LOG PORT PATH -> appends "name log rps p50 p99 non2xx socket_errors"
run() {
  local name=$1 log_state=$2 port=$3 path=$4
  local base="http://127.0.0.1:$port"
  local cookies=${COOKIES[${name%_add}-$log_state]}
  local out="$OUT/events-$name-$log_state.wrk"
  WRK_PATH=$path WRK_COOKIES=$cookies wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency \
    -s "$OUT/events-add.lua" "$base" >"$out"
  wrk_summary "$name" "$log_state" "$out" >>"$OUT/events-runs.txt"
}

: >"$OUT/events-runs.txt"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  for driver in cache database; do
    if ((round % 2)); then
      run "${driver}_add" on "$ON_PORT" "/$driver/cart/items"
      run "${driver}_add" off "$OFF_PORT" "/$driver/cart/items"
    else
      run "${driver}_add" off "$OFF_PORT" "/$driver/cart/items"
      run "${driver}_add" on "$ON_PORT" "/$driver/cart/items"
    fi
  done
done
read -r PG_AFTER REDIS_AFTER <<<"$(events_logged)"

MACHINE="$(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(uname -sr)"
python3 - "$OUT/events-runs.txt" "$COMMAND" "$ROUNDS" "$SECONDS_PER_RUN" "$CONNECTIONS" \
  "$SESSIONS" "$MACHINE" "$(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)" \
  "$((PG_AFTER - PG_BEFORE))" "$((REDIS_AFTER - REDIS_BEFORE))" >"$OUT/events.md" <<'PY'
import collections, datetime, statistics, sys
(runs_file, command, rounds, seconds, connections, sessions, machine, revision, pg_events,
 redis_events) = sys.argv[1:]
runs = collections.defaultdict(list)
for line in open(runs_file):
    name, state, rps, p50, p99, non2xx, sockets = line.split()
    runs[(name, state)].append((float(rps), p50, p99, int(non2xx), int(sockets)))
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"`{command}` at {revision}, {date}: {rounds} rounds x {seconds} s per run, wrk -t1 "
      f"-c{connections}, {sessions} sessions per server and driver, seeded once, loopback; "
      f"machine: {machine}.\n")
print("| scenario | event log | req/s (median) | req/s per round | p50 / p99 (last round) | non-2xx | socket errors |")
print("|---|---|---:|---|---|---:|---:|")
bad = 0
for (name, state), rs in sorted(runs.items()):
    errors = sum(r[3] for r in rs), sum(r[4] for r in rs)
    bad += sum(errors)
    per_round = " / ".join(f"{r[0]:,.0f}" for r in rs)
    median = statistics.median(r[0] for r in rs)
    print(f"| {name} | {state} | {median:,.0f} | {per_round} | {rs[-1][1]} / {rs[-1][2]} | {errors[0]} | {errors[1]} |")
print()
missed = 0
for name in ("cache_add", "database_add"):
    on = statistics.median(r[0] for r in runs[(name, "on")])
    off = statistics.median(r[0] for r in runs[(name, "off")])
    # Each round ran its on and off runs back to back: the median of those paired ratios is the
    # figure a drifting shared machine disturbs least, and the one the goal is on.
    pairs = [a[0] / b[0] for a, b in zip(runs[(name, "on")], runs[(name, "off")])]
    paired = statistics.median(pairs)
    missed += paired < 0.9
    print(f"- {name}: event log on / off **{paired:.3f}** (median of the rounds' ratios; goal "
          f">= 0.9) {'met' if paired >= 0.9 else 'MISSED'}; ratio of the medians {on / off:.3f}; "
          "per round " + " / ".join(f"{p:.2f}" for p in pairs))
print(f"- events logged by the log-on server during the run: {pg_events} (Postgres), "
      f"{redis_events} (Redis)")
if bad:
    print(f"\n**{bad} non-2xx answers or socket errors: this run does not count.**")
if int(pg_events) <= 0 or int(redis_events) <= 0:
    bad += 1
    print("\n**The log-on server logged nothing: this run does not count.**")
print(f"\nstatus: {'errors' if bad else 'goal missed' if missed else 'every goal met'}")
PY
cat "$OUT/events.md"
status=$(awk '/^status:/{print $2}' "$OUT/events.md")
case "$status" in
  errors) exit 1 ;;
  goal) exit 3 ;;
  *) exit 0 ;;
esac
