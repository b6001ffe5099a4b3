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
# With two cores or more, the servers run on core 1 and wrk on core 0, so that neither takes
# the other's CPU: the figures then compare the servers, not the scheduler.
server_cpu=() client_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1) client_cpu=(taskset -c 0)
fi
TODO_ADDR=$roadie_addr "${server_cpu[@]}" target/release/examples/todo >/dev/null &
pids+=($!)
wait_for "$roadie_addr" /todos
curl -fsS -o /dev/null -H 'content-type: application/json' \
  -d '{"title":"pack the van"}' "http://$roadie_addr/todos"
TODO_ADDR=$axum_addr "${server_cpu[@]}" target/release/examples/todo_axum >/dev/null &
pids+=($!)
wait_for "$axum_addr" /todos/1

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# One round against a server: prints "requests/s cpu-µs-per-request". The CPU time the
# server spent per request is steadier than requests/s on a shared machine: wrk and
# other processes take wall time, not the server's CPU time.
round() {
  local addr=$1 pid=$2 before after out requests rate
  before=$(cpu_ticks "$pid")
  out=$("${client_cpu[@]}" wrk -t"$threads" -c"$connections" -d"${seconds}s" "http://$addr/todos/1")
  after=$(cpu_ticks "$pid")
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  rate=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  awk -v r="$rate" -v t=$((after - before)) -v n="$requests" -v hz="$ticks_per_second" \
    'BEGIN { printf "%s %.2f\n", r, t / hz * 1e6 / n }'
}

echo "== wrk -t$threads -c$connections -d${seconds}s GET /todos/1, rounds in the order roadie axum axum roadie roadie axum"
# Warm both up, then measure in an ABBA order so that drift (heat, other load) falls on both
# sides alike; the figure of each side is its median round.
wrk -t1 -c4 -d1s "http://$roadie_addr/todos/1" >/dev/null
wrk -t1 -c4 -d1s "http://$axum_addr/todos/1" >/dev/null
roadie_rates=() axum_rates=() roadie_cpu=() axum_cpu=()
for side in roadie axum axum roadie roadie axum; do
  if [ "$side" = roadie ]; then
    read -r rate cpu < <(round "$roadie_addr" "${pids[0]}")
    roadie_rates+=("$rate") roadie_cpu+=("$cpu")
  else
    read -r rate cpu < <(round "$axum_addr" "${pids[1]}")
    axum_rates+=("$rate") axum_cpu+=("$cpu")
  fi
  printf '%-7s %10s requests/s %8s µs of server CPU per request\n' "$side:" "$rate" "$cpu"
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
roadie=$(median "${roadie_rates[@]}") axum=$(median "${axum_rates[@]}")
roadie_us=$(median "${roadie_cpu[@]}") axum_us=$(median "${axum_cpu[@]}")
echo "median roadie: $roadie requests/s, $roadie_us µs CPU per request"
echo "median axum:   $axum requests/s, $axum_us µs CPU per request"
awk -v r="$roadie" -v a="$axum" -v rc="$roadie_us" -v ac="$axum_us" 'BEGIN {
  printf "ratio roadie/axum, requests/s: %.3f (goal: >= 1.0)\n", r / a
  printf "ratio roadie/axum, CPU per request: %.3f (goal: <= 1.0)\n", rc / ac
}'
