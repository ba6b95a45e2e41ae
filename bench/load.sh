#!/usr/bin/env bash
# Load comparison on loopback: axum-cart against the lean hand-written cart, measured in the same
# run, each side in its own server process (examples/bench_server.rs).
#
#   bench/load.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds)
#
# Scenarios, each a pair (hand-written, library) on the same path with the same wrk script:
#   ping                 GET /ping (the library side has CartLayer, the route never takes Cart)
#   {session,cache,database}_{read,add}
#                        GET /<driver>/cart and POST /<driver>/cart/items {id, quantity}, both
#                        answering {items, count, subtotal}
# and, library only, the full cart view with the example shop's settings (view_<driver>_{read,add}),
# reported against the same hand-written baseline without a goal.
# cache needs Redis at REDIS_URL, database Postgres at DATABASE_URL (./scripts/test --services-only
# starts both).
#
# Every run is bounded by time (wrk -d) and talks to 127.0.0.1 only. Sides alternate which goes
# first between rounds, so drift on a shared machine hits both alike; a ratio is the median of
# the rounds' own ratios (library / hand-written of the two back-to-back runs of one round), and
# the ratio of the two sides' median req/s is printed beside it. Exit status: 1 when any run had a non-2xx answer or a socket error (its figures are not
# comparable), 3 when every run was clean but a ratio missed its goal, 0 otherwise.
# The report goes to bench/results/load.md; RECORD=1 also writes it into BENCHMARKS.md between
# the load-report markers.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-16}
SESSIONS=${SESSIONS:-64}
LIBRARY_PORT=${LIBRARY_PORT:-3900}
HAND_WRITTEN_PORT=${HAND_WRITTEN_PORT:-3901}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=bench/results
mkdir -p "$OUT"
COMMAND="bench/load.sh $SECONDS_PER_RUN $ROUNDS"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --example bench_server

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
start() { # SIDE PORT
  local log="$OUT/server-$1.log"
  PORT=$2 ./target/release/examples/bench_server "$1" >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do grep -q listening "$log" && return 0; sleep 0.1; done
  echo "bench server ($1) did not start"; cat "$log"; exit 1
}
start library "$LIBRARY_PORT"; LIBRARY_PID=${PIDS[-1]}
start hand-written "$HAND_WRITTEN_PORT"; HAND_WRITTEN_PID=${PIDS[-1]}

# Fresh sessions (cookie headers, comma-separated) for one run, each with one cart line already:
# one visitor per connection and more, as real traffic has, so that runs measure the drivers and
# not connections fighting over one cart.

cat >"$OUT/cookies.lua" <<'LUA'
cookies = {}
for cookie in string.gmatch(os.getenv("WRK_COOKIES") or "", "[^,]+") do table.insert(cookies, cookie) end
counter = 0
function next_cookie()
  counter = counter + 1
  if #cookies == 0 then return nil end
  return cookies[(counter % #cookies) + 1]
end
LUA
cat "$OUT/cookies.lua" - >"$OUT/add.lua" <<'LUA'
local path = os.getenv("WRK_PATH")
request = function()
  local cookie = next_cookie()
  local body = '{"id":"sku-' .. (counter % 50) .. '","quantity":1}'
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Cookie"] = cookie}, body)
end
LUA
cat "$OUT/cookies.lua" - >"$OUT/read.lua" <<'LUA'
local path = os.getenv("WRK_PATH")
request = function()
  local cookie = next_cookie()
  if cookie then return wrk.format("GET", path, {["Cookie"] = cookie}) end
  return wrk.format("GET", path)
end
LUA

# run NAME SIDE SCRIPT PATH [SEED_PATH] -> appends "name side rps p50 p99 non2xx socket_errors"
run() {
  local name=$1 side=$2 script=$3 path=$4 seed=${5:-}
  local port=$LIBRARY_PORT; [ "$side" = hand-written ] && port=$HAND_WRITTEN_PORT
  local base="http://127.0.0.1:$port" cookies=""
  [ -n "$seed" ] && cookies=$(session_cookies "$base" "$seed")
  local log="$OUT/$name-$side.wrk"
  WRK_PATH=$path WRK_COOKIES=$cookies wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency \
    -s "$OUT/$script.lua" "$base" >"$log"
  wrk_summary "$name" "$side" "$log" >>"$OUT/runs.txt"
}

# pair NAME SCRIPT PATH SEED: both sides, the first alternating between rounds.
pair() {
  if ((round % 2)); then run "$1" hand-written "${@:2}"; run "$1" library "${@:2}"
  else run "$1" library "${@:2}"; run "$1" hand-written "${@:2}"; fi
}

: >"$OUT/runs.txt"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  pair ping read /ping ""
  for driver in session cache database; do
    pair "${driver}_read" read "/$driver/cart" "/$driver/cart/items"
    pair "${driver}_add" add "/$driver/cart/items" "/$driver/cart/items"
    run "view_${driver}_read" library read "/$driver/view" "/$driver/view/items"
    run "view_${driver}_add" library add "/$driver/view/items" "/$driver/view/items"
  done
done
LIBRARY_KB=$(awk '/VmHWM/{print $2}' "/proc/$LIBRARY_PID/status")
HAND_WRITTEN_KB=$(awk '/VmHWM/{print $2}' "/proc/$HAND_WRITTEN_PID/status")

MACHINE="$(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
python3 - "$OUT/runs.txt" "$LIBRARY_KB" "$HAND_WRITTEN_KB" "$COMMAND" "$ROUNDS" "$SECONDS_PER_RUN" \
  "$CONNECTIONS" "$SESSIONS" "$MACHINE" "$(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)" \
  >"$OUT/load.md" <<'PY'
import collections, datetime, statistics, sys
(runs_file, lib_kb, hand_kb, command, rounds, seconds, connections, sessions, machine,
 revision) = sys.argv[1:]
runs = collections.defaultdict(list)
for line in open(runs_file):
    name, side, rps, p50, p99, non2xx, sockets = line.split()
    runs[(name, side)].append((float(rps), p50, p99, int(non2xx), int(sockets)))
def median(name, side):
    return statistics.median(r[0] for r in runs[(name, side)])
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"`{command}` at {revision}, {date}: {rounds} rounds x {seconds} s per run, wrk -t1 "
      f"-c{connections}, {sessions} sessions per run, loopback; machine: {machine}.\n")
print("| scenario | side | req/s (median) | req/s per round | p50 / p99 (last round) | non-2xx | socket errors |")
print("|---|---|---:|---|---|---:|---:|")
bad = 0
for (name, side), rs in runs.items():
    errors = sum(r[3] for r in rs), sum(r[4] for r in rs)
    bad += sum(errors)
    per_round = " / ".join(f"{r[0]:,.0f}" for r in rs)
    print(f"| {name} | {side} | {median(name, side):,.0f} | {per_round} | {rs[-1][1]} / {rs[-1][2]} | {errors[0]} | {errors[1]} |")
print()
missed = 0
def report(label, value, goal, holds, unit=""):
    global missed
    ok = holds(value)
    missed += not ok
    print(f"- {label}: **{value:.3f}{unit}** (goal {goal}) {'met' if ok else 'MISSED'}")
def paired(name):
    """The library / hand-written ratio of each round: the two runs of a round are back to back,
    so drift of the shared machine between rounds cancels out of it."""
    return [l[0] / h[0] for l, h in zip(runs[(name, "library")], runs[(name, "hand-written")])]
def detail(name):
    ratios = paired(name)
    return (f"ratio of the medians {median(name, 'library') / median(name, 'hand-written'):.3f}; "
            f"per round {' / '.join(f'{r:.2f}' for r in ratios)}")
overhead = (1 - statistics.median(paired("ping"))) * 100
report("CartLayer overhead on a route without Cart", overhead, "< 3 %", lambda v: v < 3, " %")
print(f"  ({detail('ping')})")
for driver in ("session", "cache", "database"):
    for op in ("read", "add"):
        name = f"{driver}_{op}"
        report(f"{name}: library / hand-written", statistics.median(paired(name)),
               ">= 0.9", lambda v: v >= 0.9)
        print(f"  ({detail(name)})")
memory = int(lib_kb) / int(hand_kb)
report(f"peak RSS (VmHWM) library {int(lib_kb) / 1024:.1f} MiB / hand-written {int(hand_kb) / 1024:.1f} MiB",
       memory, "<= 1.5", lambda v: v <= 1.5)
print("\nThe full cart view (example shop settings: ETag, idempotency keys, re-pricing with "
      "notices), library only, against the hand-written compact answer:\n")
for driver in ("session", "cache", "database"):
    for op in ("read", "add"):
        print(f"- view_{driver}_{op} / {driver}_{op} hand-written: "
              f"{median(f'view_{driver}_{op}', 'library') / median(f'{driver}_{op}', 'hand-written'):.3f}")
if bad:
    print(f"\n**{bad} non-2xx answers or socket errors: this run does not count.**")
print(f"\nstatus: {'errors' if bad else 'goal missed' if missed else 'every goal met'}")
PY
cat "$OUT/load.md"

if [ "${RECORD:-0}" = 1 ]; then
  python3 - "$OUT/load.md" BENCHMARKS.md <<'PY'
import sys
report, path = open(sys.argv[1]).read(), sys.argv[2]
text = open(path).read()
begin, end = "<!-- load-report:begin -->", "<!-- load-report:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n{report}{end}{tail}")
PY
  echo "recorded in BENCHMARKS.md"
fi
status=$(awk '/^status:/{print $2}' "$OUT/load.md")
case "$status" in
  errors) exit 1 ;;
  goal) exit 3 ;;
esac
