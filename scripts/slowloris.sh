#!/usr/bin/env bash
# Slow and hostile clients against the release `todo` example: stalled request heads,
# stalled request bodies and slow readers, with normal requests alongside.
#
#   scripts/slowloris.sh [seconds] [heads] [bodies] [readers]
#
# Prints the server's resident memory before, at its peak and after, whether every normal
# request was served meanwhile (and the slowest), and what became of each slow client: with
# the defaults (30 s header and body read timeouts), stalled heads and bodies are cut once
# they have been silent for 30 s, and slow readers read to the end. Loopback only; bounded in
# time; the server is stopped on exit. RUST_LOG and SERVER_LOG (a file for its log) pass through.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-100}
heads=${2:-200}
bodies=${3:-200}
readers=${4:-50}
addr=127.0.0.1:3920

# shellcheck source=scripts/example.sh
. scripts/example.sh

export RUST_LOG=${RUST_LOG:-warn} TODO_ADDR=$addr TODO_DATABASE=$work/slow.sqlite3
target/release/examples/todo >"${SERVER_LOG:-$work/server.log}" 2>&1 &
server=$!
wait_ready
# A full page to read: 100 todos of 400 characters.
title=$(printf 'x%.0s' $(seq 400))
for i in $(seq 100); do
  curl -fsS -o /dev/null -H 'content-type: application/json' -d "{\"title\":\"$i $title\"}" "http://$addr/todos"
done

echo "== $heads stalled heads, $bodies stalled 2 MiB bodies, $readers slow readers, for ${seconds}s"
status=0
timeout $((seconds + 30)) python3 scripts/slowloris_client.py "$addr" "$server" "$seconds" "$heads" "$bodies" "$readers" || status=$?
kill -TERM "$server"
wait "$server" || true
server=""
exit $status
