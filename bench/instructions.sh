#!/usr/bin/env bash
# Instructions per request, library against hand-written, counted by callgrind: the session
# routes of benches/layer.rs in process (no network, no load generator). Unlike req/s, a count
# does not move with what the machine's neighbours do, so a change's effect shows at once.
#
#   bench/instructions.sh [requests] [scenario ...]
#   (defaults: 200 requests; ping read_one_line read add)
#
# Each scenario runs on each side twice, with N and 2N requests (LAYER_BENCH_COUNT, see
# benches/layer.rs); the difference of the two totals divided by N is the cost of one request,
# without the start-up and seeding that both runs share. Needs valgrind (installed from Debian's
# packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
REQUESTS=${1:-200}
shift || true
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(ping read_one_line read add)

need valgrind
BENCH=$(layer_bench)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# total SCENARIO REQUESTS -> the instructions of the whole run
total() {
  LAYER_BENCH_COUNT="$1 $2" valgrind --tool=callgrind --callgrind-out-file="$OUT/run" \
    "$BENCH" >/dev/null 2>"$OUT/log" || { cat "$OUT/log"; exit 1; }
  awk '/^summary:/{print $2}' "$OUT/run"
}

printf '| scenario | hand-written | library | library / hand-written |\n|---|---:|---:|---:|\n'
for scenario in "${SCENARIOS[@]}"; do
  declare -A per=()
  for side in hand_written library; do
    one=$(total "${scenario}_$side" "$REQUESTS")
    two=$(total "${scenario}_$side" $((2 * REQUESTS)))
    per[$side]=$(((two - one) / REQUESTS))
  done
  awk -v s="$scenario" -v h="${per[hand_written]}" -v l="${per[library]}" \
    'BEGIN { printf "| %s | %d | %d | %.3f |\n", s, h, l, l / h }'
done
echo
echo "(instructions per request, \`bench/instructions.sh $REQUESTS ${SCENARIOS[*]}\` at $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes))"
