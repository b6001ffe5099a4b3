#!/usr/bin/env bash
# Load test over HTTP: the server CPU each request costs on roadie, axum 0.8 and plain hyper 1,
# on routes that do the same work (`examples/bench_server.rs`, `examples/bench_axum.rs`,
# `examples/bench_hyper.rs`: `GET /users/{id}`, two shared resources, a `u64` path parameter,
# a small JSON body), measured by wrk in interleaved rounds.
#
#   scripts/load.sh [rounds] [seconds] [connections] [threads]
#
# Defaults: 5 rounds of 5 s on each server, 64 connections, 1 wrk thread. Each round runs the
# three servers one after another, in an order that turns by one every round, so that drift
# (heat, other load on a shared machine) falls on every side alike. A round's figures are the
# server's CPU time (user + system ticks of the whole process, from /proc/PID/stat) divided by
# the requests wrk counted, and requests/s. The ratios are taken within each round (the runs
# of one round are seconds apart) and their median is printed.
#
# With two cores or more, the servers are pinned on core 1 and wrk on core 0 (taskset), so
# that neither takes the other's CPU. Loopback only; every run is bounded by its duration, and
# the servers are stopped on exit, however the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
seconds=${2:-5}
connections=${3:-64}
threads=${4:-1}
target=${CARGO_TARGET_DIR:-target}
sides=(roadie axum hyper)
declare -A programs=([roadie]=bench_server [axum]=bench_axum [hyper]=bench_hyper)
declare -A addrs=([roadie]=127.0.0.1:3900 [axum]=127.0.0.1:3901 [hyper]=127.0.0.1:3902)
declare -A pids=()

if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

echo "== building the servers (release)"
cargo build --release --quiet --example bench_server --example bench_axum --example bench_hyper

cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

server_cpu=() client_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1) client_cpu=(taskset -c 0)
fi

path=/users/42
expected='200 application/json {"id":42,"greeting":"hello","database":"users"}'
for side in "${sides[@]}"; do
  BENCH_ADDR=${addrs[$side]} RUST_LOG=warn "${server_cpu[@]}" \
    "$target/release/examples/${programs[$side]}" >/dev/null &
  pids[$side]=$!
done
for side in "${sides[@]}"; do
  answer=
  for _ in $(seq 100); do
    answer=$(curl -sS --max-time 2 -w ' %{http_code} %{content_type}' "http://${addrs[$side]}$path" 2>/dev/null) && break
    sleep 0.1
  done
  # "body status type" -> "status type body", to compare with what every side must answer.
  answer=$(awk '{ body = $1; for (i = 2; i < NF - 1; i++) body = body " " $i; print $(NF - 1), $NF, body }' <<<"$answer")
  if [ "$answer" != "$expected" ]; then
    echo "$side answers GET $path with \`$answer\`, not \`$expected\`: not the same work" >&2
    exit 1
  fi
done
echo "== every server answers GET $path with: $expected"

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# One run against a side: prints "requests/s µs-of-server-CPU-per-request".
run() {
  local side=$1 before after out requests rate
  before=$(cpu_ticks "${pids[$side]}")
  out=$("${client_cpu[@]}" timeout $((seconds + 30)) \
    wrk -t"$threads" -c"$connections" -d"${seconds}s" "http://${addrs[$side]}$path")
  after=$(cpu_ticks "${pids[$side]}")
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  rate=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  awk -v r="$rate" -v t=$((after - before)) -v n="$requests" -v hz="$ticks_per_second" \
    'BEGIN { printf "%s %.3f\n", r, t / hz * 1e6 / n }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== warming up"
for side in "${sides[@]}"; do
  "${client_cpu[@]}" wrk -t1 -c"$connections" -d1s "http://${addrs[$side]}$path" >/dev/null
done

echo "== $rounds rounds of wrk -t$threads -c$connections -d${seconds}s GET $path"
declare -A rates=() cpus=()
roadie_ratios=() hyper_ratios=()
for round in $(seq "$rounds"); do
  order=()
  for i in 0 1 2; do order+=("${sides[$(((i + round - 1) % 3))]}"); done
  declare -A this=()
  for side in "${order[@]}"; do
    read -r rate cpu < <(run "$side")
    rates[$side]+="$rate " cpus[$side]+="$cpu " this[$side]=$cpu
    printf 'round %d %-7s %10s requests/s %8s µs of server CPU per request\n' \
      "$round" "$side:" "$rate" "$cpu"
  done
  roadie_ratios+=("$(awk -v r="${this[roadie]}" -v a="${this[axum]}" 'BEGIN { printf "%.3f", r / a }')")
  hyper_ratios+=("$(awk -v h="${this[hyper]}" -v a="${this[axum]}" 'BEGIN { printf "%.3f", h / a }')")
done

echo "== medians over $rounds rounds"
for side in "${sides[@]}"; do
  # shellcheck disable=SC2086 # the lists are space-separated numbers
  printf '%-7s %10s requests/s %8s µs of server CPU per request\n' "$side:" \
    "$(median ${rates[$side]})" "$(median ${cpus[$side]})"
done
echo "CPU per request, roadie/axum per round: ${roadie_ratios[*]}"
echo "CPU per request, hyper/axum per round:  ${hyper_ratios[*]}"
echo "median ratio roadie/axum, CPU per request: $(median "${roadie_ratios[@]}") (goal: <= 0.90)"
echo "median ratio hyper/axum,  CPU per request: $(median "${hyper_ratios[@]}")"
awk -v r="$(median ${rates[roadie]})" -v a="$(median ${rates[axum]})" -v h="$(median ${rates[hyper]})" 'BEGIN {
  printf "ratio of median requests/s, roadie/axum: %.3f, hyper/axum: %.3f\n", r / a, h / a
}'
