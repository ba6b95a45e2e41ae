#!/usr/bin/env bash
# Redis's own instructions per request, library against hand-written, counted by callgrind: a
# redis-server of this script's own runs under valgrind while the cache scenarios of
# benches/layer.rs (in process, as bench/instructions.sh runs them) talk to it. Like
# bench/instructions.sh, a count does not move with what the machine's neighbours do; unlike
# Redis's INFO commandstats, it includes what a command costs before and after its own work
# (parsing, the script engine, the reply).
#
#   bench/redis_instructions.sh [requests] [scenario ...]
#   (defaults: 200 requests; cache_read cache_add)
#
# Each scenario runs on each side with N, 2N and N requests against one redis-server; the
# server's count for the 2N run less the N run after it, divided by N, is the cost of one
# request without the start-up and seeding that both share. Needs valgrind and redis-server
# (installed from Debian's packages when missing); listens on 127.0.0.1:${REDIS_INSTRUCTIONS_PORT:-6390}.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
REQUESTS=${1:-200}
shift || true
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(cache_read cache_add)
PORT=${REDIS_INSTRUCTIONS_PORT:-6390}

need valgrind
need redis-server
BENCH=$(layer_bench)
OUT=$(mktemp -d)
REDIS=
cleanup() {
  [ -z "$REDIS" ] || { redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || kill "$REDIS" 2>/dev/null || true; wait "$REDIS" 2>/dev/null || true; }
  rm -rf "$OUT"
}
trap cleanup EXIT

# per SCENARIO -> Redis instructions per request of that scenario
per() {
  valgrind --tool=callgrind --callgrind-out-file="$OUT/redis" \
    redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/log" 2>&1 &
  REDIS=$!
  for _ in $(seq 1 200); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.2; done
  redis-cli -p "$PORT" ping >/dev/null || { cat "$OUT/log"; exit 1; }
  # Each dump holds the counts since the one before.
  local part=0 n
  for n in "$REQUESTS" $((2 * REQUESTS)) "$REQUESTS"; do
    LAYER_BENCH_COUNT="$1 $n" REDIS_URL="redis://127.0.0.1:$PORT" "$BENCH" >/dev/null
    callgrind_control -d "$REDIS" >/dev/null 2>&1
    part=$((part + 1))
    for _ in $(seq 1 100); do [ -s "$OUT/redis.$part" ] && break; sleep 0.1; done
  done
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  wait "$REDIS" 2>/dev/null || true
  REDIS=
  total() { awk '/^(summary|totals):/{print $2; exit}' "$1"; }
  echo $((($(total "$OUT/redis.2") - $(total "$OUT/redis.3")) / REQUESTS))
  rm -f "$OUT"/redis*
}

printf '| scenario | hand-written | library | library / hand-written |\n|---|---:|---:|---:|\n'
for scenario in "${SCENARIOS[@]}"; do
  hand=$(per "${scenario}_hand_written")
  library=$(per "${scenario}_library")
  awk -v s="$scenario" -v h="$hand" -v l="$library" \
    'BEGIN { printf "| %s | %d | %d | %.3f |\n", s, h, l, l / h }'
done
echo
echo "(Redis instructions per request, \`bench/redis_instructions.sh $REQUESTS ${SCENARIOS[*]}\` at $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes))"
