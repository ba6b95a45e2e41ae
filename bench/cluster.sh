#!/usr/bin/env bash
# Adds and reads per second through the cache driver: a single Redis against a Redis Cluster,
# measured in the same run (examples/cluster_bench.rs). Loopback only.
#
#   bench/cluster.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds; TASKS=16)
#
# Needs Redis at REDIS_URL and the cluster at REDIS_CLUSTER_URL: `./scripts/test --services-only`
# starts both (the cluster on 127.0.0.1:7000-7005).
set -euo pipefail
cd "$(dirname "$0")/.."
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
default_cluster="redis-cluster://127.0.0.1:7000"
for port in 7001 7002 7003 7004 7005; do
  default_cluster+="$([[ $port == 7001 ]] && echo '?' || echo '&')node=127.0.0.1:$port"
done
export REDIS_CLUSTER_URL=${REDIS_CLUSTER_URL:-$default_cluster}
cargo build --release --quiet --example cluster_bench
exec ./target/release/examples/cluster_bench "${1:-5}" "${2:-3}"
