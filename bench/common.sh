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
