#!/usr/bin/env bash
# A rolling deploy, measured: the release `todo` example under constant keep-alive load with
# writes, SIGTERM mid-run, then a restart on the same database to check every acknowledged
# write is there.
#
#   scripts/drain.sh [runs] [connections] [seconds-before-sigterm]
#
# Prints, per run: requests sent, answered, dropped (EOF or reset with no response: must be
# 0), refused (after the server stopped accepting), acknowledged writes missing after the
# restart (must be 0), and the time from SIGTERM to exit. Loopback only; every run is bounded
# in time, and the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
connections=${2:-64}
before=${3:-5}
addr=127.0.0.1:3910

# shellcheck source=scripts/example.sh
. scripts/example.sh

export RUST_LOG=warn TODO_ADDR=$addr
failed=0
for run in $(seq "$runs"); do
  export TODO_DATABASE=$work/run$run.sqlite3
  target/release/examples/todo >"$work/server$run.log" 2>&1 &
  server=$!
  wait_ready
  # Something to read.
  for i in 1 2 3 4 5; do
    curl -fsS -o /dev/null -H 'content-type: application/json' -d "{\"title\":\"seed $i\"}" "http://$addr/todos"
  done
  # Load for long enough to cover the signal, the drain delay and the drain.
  timeout 120 python3 scripts/drain_client.py "$addr" "$connections" $((before + 15)) "$work/writes$run.jsonl" >"$work/counts$run.json" &
  client=$!
  sleep "$before"
  signalled=$(date +%s.%N)
  kill -TERM "$server"
  status=0
  wait "$server" || status=$?
  exited=$(date +%s.%N)
  server=""
  wait "$client" || true
  # Restart on the same database, and look for every acknowledged write.
  target/release/examples/todo >>"$work/server$run.log" 2>&1 &
  server=$!
  wait_ready
  read -r acknowledged missing < <(python3 - "$addr" "$work/writes$run.jsonl" <<'PY'
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
connection = http.client.HTTPConnection(host, int(port), timeout=10)
acknowledged = missing = 0
for line in open(sys.argv[2]):
    write = json.loads(line)
    acknowledged += 1
    connection.request("GET", f"/todos/{write['id']}")
    response = connection.getresponse()
    body = response.read()
    if response.status != 200 or json.loads(body).get("title") != write["title"]:
        missing += 1
print(acknowledged, missing)
PY
)
  kill -TERM "$server"
  wait "$server" || true
  server=""
  if ! python3 - "$work/counts$run.json" "$acknowledged" "$missing" "$signalled" "$exited" "$status" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))
acknowledged, missing = int(sys.argv[2]), int(sys.argv[3])
seconds = float(sys.argv[5]) - float(sys.argv[4])
print(f"sent {counts['sent']}, answered {counts['answered']}, dropped {counts['dropped']}, "
      f"refused {counts['refused']}, closed by the server {counts['closed by the server']}; "
      f"acknowledged writes {acknowledged}, missing {missing}; "
      f"SIGTERM to exit {seconds:.2f} s (exit status {sys.argv[6]})")
statuses = {k: v for k, v in counts.items() if k.startswith("status")}
print("  statuses:", statuses)
sys.exit(1 if counts["dropped"] or missing else 0)
PY
  then
    failed=1
  fi
done
exit $failed
