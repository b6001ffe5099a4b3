#!/usr/bin/env bash
# Load test: the `todo` example's read route against the same route on axum
# (`examples/todo_axum.rs`), both on one SQLite database, measured by wrk in one run.
#
#   scripts/load.sh [seconds] [connections] [threads]
#
# Prints the requests per second of each and the ratio roadie / axum. Loopback only; each
# wrk run is bounded by its duration, and both servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
connections=${2:-64}
threads=${3:-2}
roadie_addr=127.0.0.1:3900
axum_addr=127.0.0.1:3901

if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

echo "== building the servers (release)"
cargo build --release --quiet --example todo --example todo_axum

database=$(mktemp -d)/load.sqlite3
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$database" "$database-wal" "$database-shm"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://$1$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the server at $1 did not answer" >&2
  return 1
}

export TODO_DATABASE=$database TODO_POOL_SIZE=8 RUST_LOG=warn
TODO_ADDR=$roadie_addr target/release/examples/todo >/dev/null &
pids+=($!)
wait_for "$roadie_addr" /todos
curl -fsS -o /dev/null -H 'content-type: application/json' \
  -d '{"title":"pack the van"}' "http://$roadie_addr/todos"
TODO_ADDR=$axum_addr target/release/examples/todo_axum >/dev/null &
pids+=($!)
wait_for "$axum_addr" /todos/1

rate() {
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "http://$1/todos/1" \
    | awk '/Requests\/sec/ { print $2 }'
}

echo "== wrk -t$threads -c$connections -d${seconds}s GET /todos/1, rounds in the order roadie axum axum roadie roadie axum"
# Warm both up, then measure in an ABBA order so that drift (heat, other load) falls on both
# sides alike; the figure of each side is its median round.
wrk -t1 -c4 -d1s "http://$roadie_addr/todos/1" >/dev/null
wrk -t1 -c4 -d1s "http://$axum_addr/todos/1" >/dev/null
roadie_rates=() axum_rates=()
for side in roadie axum axum roadie roadie axum; do
  if [ "$side" = roadie ]; then
    roadie_rates+=("$(rate "$roadie_addr")")
    echo "roadie: ${roadie_rates[-1]} requests/s"
  else
    axum_rates+=("$(rate "$axum_addr")")
    echo "axum:   ${axum_rates[-1]} requests/s"
  fi
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
roadie=$(median "${roadie_rates[@]}")
axum=$(median "${axum_rates[@]}")
echo "median roadie: $roadie requests/s"
echo "median axum:   $axum requests/s"
awk -v r="$roadie" -v a="$axum" 'BEGIN { printf "ratio roadie/axum: %.3f (goal: >= 1.0)\n", r / a }'
