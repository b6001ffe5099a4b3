#!/usr/bin/env bash
# Memory over HTTP: the resident memory (VmRSS) an idle keep-alive connection and a request in
# flight cost on roadie, axum 0.8 and plain hyper 1 (`examples/bench_server.rs`,
# `examples/bench_axum.rs`, `examples/bench_hyper.rs`), side by side.
#
#   scripts/rss.sh [rounds] [connections]
#
# Defaults: 3 rounds, 1000 connections. Each round starts every server afresh (in an order
# that turns by one every round), and `scripts/rss_client.py` warms it up, reads its VmRSS,
# opens the connections with one `GET /users/42` answered on each and leaves them idle, reads
# VmRSS again, then sends `GET /sleep` on each (a route that answers after a minute) and reads
# it a third time. Per idle connection: (idle - before) / connections; per request in flight:
# (in flight - idle) / connections, what a held request adds to its connection. The median
# round is printed. The servers run on one core (taskset) as in `scripts/load.sh`, so each
# has one runtime worker. Loopback only; bounded in time; each server is stopped after its
# run, and all of them on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
connections=${2:-1000}
target=${CARGO_TARGET_DIR:-target}
sides=(roadie axum hyper)
declare -A programs=([roadie]=bench_server [axum]=bench_axum [hyper]=bench_hyper)
addr=127.0.0.1:3910
server=

echo "== building the servers (release)"
cargo build --release --quiet --example bench_server --example bench_axum --example bench_hyper

stop() {
  [ -n "$server" ] || return 0
  kill -INT "$server" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
}
trap stop EXIT

server_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1)
fi

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== $rounds rounds, $connections connections: bytes of VmRSS per idle connection and per request in flight"
declare -A idle=() inflight=() base=()
for round in $(seq "$rounds"); do
  for i in 0 1 2; do
    side=${sides[$(((i + round - 1) % 3))]}
    BENCH_ADDR=$addr BENCH_SLEEP_SECS=60 RUST_LOG=warn "${server_cpu[@]}" \
      "$target/release/examples/${programs[$side]}" >/dev/null &
    server=$!
    for _ in $(seq 100); do
      curl -fsS --max-time 2 -o /dev/null "http://$addr/users/42" 2>/dev/null && break
      sleep 0.1
    done
    read -r before at_idle at_inflight < <(timeout 120 python3 scripts/rss_client.py "$addr" "$server" "$connections")
    stop
    per_idle=$(((at_idle - before) * 1024 / connections))
    per_inflight=$(((at_inflight - at_idle) * 1024 / connections))
    idle[$side]+="$per_idle " inflight[$side]+="$per_inflight " base[$side]+="$before "
    printf 'round %d %-7s VmRSS %6d KiB before, %6d KiB idle, %6d KiB in flight: %6d B per idle connection, %6d B per request in flight\n' \
      "$round" "$side:" "$before" "$at_idle" "$at_inflight" "$per_idle" "$per_inflight"
  done
done

echo "== medians over $rounds rounds"
printf '%-7s %14s %22s %26s\n' side "VmRSS before" "B per idle connection" "B per request in flight"
for side in "${sides[@]}"; do
  # shellcheck disable=SC2086 # the lists are space-separated numbers
  printf '%-7s %10s KiB %22s %26s\n' "$side" "$(median ${base[$side]})" \
    "$(median ${idle[$side]})" "$(median ${inflight[$side]})"
done
