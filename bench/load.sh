#!/usr/bin/env bash
# Load comparison on loopback: axum-cart against a baseline measured in the same run.
#
#   bench/load.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds)
#
# (a) a route that never takes Cart, without and with CartLayer;
# (b) cart read and cart add through the session driver against hand-written handlers that keep
#     the same cart document in tower-sessions directly;
# (c) the same through the cache driver against a plain fred GET + SET of the document, and
# (d) through the database driver against a plain sqlx SELECT + upsert of the document.
# (c) and (d) need Redis at REDIS_URL and Postgres at DATABASE_URL (./scripts/test --services-only
# starts them).
# Runs alternate A/B in each round so that drift on a shared machine hits both sides alike; the
# ratios are what to read, not the absolute numbers. Every run is bounded by time (wrk -d).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-3900}
BASE="http://127.0.0.1:$PORT"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=bench/results
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --example bench_server
./target/release/examples/bench_server >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$OUT/server.log" && break; sleep 0.1; done
grep -q listening "$OUT/server.log" || { echo "bench server did not start"; cat "$OUT/server.log"; exit 1; }

# Fresh sessions (cookie headers, comma-separated) for one run, each with one cart line already:
# one visitor per connection, as real traffic has, so that runs measure the driver and not 16
# connections fighting over a single cart.
session_cookies() { # $1 = /lib, /manual, ...
  local jar cookies=""
  for _ in $(seq 1 $((CONNECTIONS * 4))); do
    jar=$(mktemp)
    curl -s -c "$jar" -H 'content-type: application/json' \
      -d '{"id":"seed","name":"Seed","price":"1.00","quantity":1}' "$BASE$1/cart/items" >/dev/null
    cookies="$cookies${cookies:+,}$(awk '$6=="id"{print "id="$7}' "$jar")"
    rm -f "$jar"
  done
  echo "$cookies"
}

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
  local id = "sku-" .. (counter % 50)
  local body = '{"id":"' .. id .. '","name":"Item ' .. id .. '","price":"10.99","quantity":1}'
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Cookie"] = cookie}, body)
end
LUA
cat "$OUT/cookies.lua" - >"$OUT/get.lua" <<'LUA'
local path = os.getenv("WRK_PATH")
request = function()
  local cookie = next_cookie()
  if cookie then return wrk.format("GET", path, {["Cookie"] = cookie}) end
  return wrk.format("GET", path)
end
LUA

# run NAME METHOD(get|add) PATH [cookie-prefix] -> appends "name rps p50 p90 p99 errors" to $OUT/runs.txt
run() {
  local name=$1 script=$2 path=$3 prefix=${4:-}
  local cookies=""; [ -n "$prefix" ] && cookies=$(session_cookies "$prefix")
  local log="$OUT/$name.wrk"
  WRK_PATH=$path WRK_COOKIES=$cookies wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency \
    -s "$OUT/$script.lua" "$BASE" >"$log"
  local rps p50 p90 p99 errors
  rps=$(awk '/Requests\/sec/{print $2}' "$log")
  p50=$(awk '$1=="50%"{print $2}' "$log"); p90=$(awk '$1=="90%"{print $2}' "$log"); p99=$(awk '$1=="99%"{print $2}' "$log")
  errors=$(awk '/Non-2xx/{print $5}' "$log"); errors=${errors:-0}
  echo "$name $rps $p50 $p90 $p99 $errors" >>"$OUT/runs.txt"
}

: >"$OUT/runs.txt"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  # pair BASELINE CANDIDATE ...: the side that goes first alternates between rounds.
  pair() {
    if (( round % 2 )); then run "$@"; run "${@:5}"; else run "${@:5}"; run "${@:1:4}"; fi
  }
  pair ping_without_layer get /plain/ping "" ping_with_layer get /layered/ping ""
  pair read_manual get /manual/cart /manual read_cart get /lib/cart /lib
  pair add_manual add /manual/cart/items /manual add_cart add /lib/cart/items /lib
  for driver in redis pg; do
    pair read_manual_$driver get /manual-$driver/cart /manual-$driver read_cart_$driver get /lib-$driver/cart /lib-$driver
    pair add_manual_$driver add /manual-$driver/cart/items /manual-$driver add_cart_$driver add /lib-$driver/cart/items /lib-$driver
  done
done
PEAK_KB=$(awk '/VmHWM/{print $2}' /proc/$SERVER/status)

python3 - "$OUT/runs.txt" "$PEAK_KB" "$SECONDS_PER_RUN" "$ROUNDS" "$CONNECTIONS" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, rps, p50, p90, p99, errors = line.split()
    runs[name].append((float(rps), p50, p90, p99, int(errors)))
def med(name): return statistics.median(r[0] for r in runs[name])
print(f"\n{sys.argv[4]} rounds x {sys.argv[3]} s, {sys.argv[5]} connections, wrk -t1, loopback\n")
print("| scenario | req/s (median) | p50 | p90 | p99 (last round) | non-2xx |")
print("|---|---:|---:|---:|---:|---:|")
for name, rs in runs.items():
    last = rs[-1]
    print(f"| {name} | {med(name):,.0f} | {last[1]} | {last[2]} | {last[3]} | {sum(r[4] for r in rs)} |")
overhead = (1 - med("ping_with_layer") / med("ping_without_layer")) * 100
print(f"\n(a) CartLayer overhead on a route without Cart: {overhead:+.1f} % (goal < 3 %)")
print(f"(b) cart read ratio (library / hand-written): {med('read_cart') / med('read_manual'):.3f} (goal >= 0.9)")
print(f"(b) cart add ratio  (library / hand-written): {med('add_cart') / med('add_manual'):.3f} (goal >= 0.9)")
for driver, goal in (("redis", 0.85), ("pg", 0.85)):
    print(f"({'c' if driver == 'redis' else 'd'}) {driver} read ratio (library / hand-written): {med('read_cart_' + driver) / med('read_manual_' + driver):.3f} (goal >= {goal})")
    print(f"({'c' if driver == 'redis' else 'd'}) {driver} add ratio  (library / hand-written): {med('add_cart_' + driver) / med('add_manual_' + driver):.3f} (goal >= {goal})")
print(f"peak server memory (VmHWM): {int(sys.argv[2]) / 1024:.1f} MiB")
PY
