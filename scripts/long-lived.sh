#!/usr/bin/env bash
# Long-lived connections at shutdown, measured: the release `live` example with hundreds of
# server-sent event streams and WebSockets open, then SIGTERM.
#
#   scripts/long-lived.sh [sse-clients] [ws-clients]
#
# Prints how many clients got a clean end (SSE: a `bye` event, then the chunked body's last
# chunk; WS: a Close frame with code 1001), the time from SIGTERM to the server's exit (it
# must be within the example's 10 s grace period), and the exit status. Loopback only;
# bounded in count and time, and the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

sse=${1:-500}
ws=${2:-500}
addr=127.0.0.1:3912
grace=10

example=live
# shellcheck source=scripts/example.sh
. scripts/example.sh

ulimit -n 8192 2>/dev/null || true
export RUST_LOG=warn ADDR=$addr TICK_MS=200
"$bin" >"$work/server.log" 2>&1 &
server=$!
wait_ready

timeout 120 python3 scripts/long_lived_client.py "$addr" "$sse" "$ws" "$server" "$work/signalled" >"$work/counts.json" &
client=$!
status=0
wait "$server" || status=$?
exited=$(date +%s.%N)
server=""
wait "$client" || true

python3 - "$work/counts.json" "$work/signalled" "$exited" "$status" "$sse" "$ws" "$grace" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))
signalled = float(open(sys.argv[2]).read())
seconds = float(sys.argv[3]) - signalled
status, sse, ws, grace = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
print(f"clients: {sse} SSE, {ws} WebSocket (all open in {counts.pop('connected in s')} s)")
print(f"SSE clean end (bye, then the last chunk): {counts.get('sse clean', 0)}/{sse}")
print(f"WS Close 1001 received: {counts.get('ws clean', 0)}/{ws}")
others = {k: v for k, v in counts.items() if k not in ("sse clean", "ws clean")}
print(f"other ends: {others}")
print(f"SIGTERM to exit: {seconds:.2f} s (grace period {grace} s); exit status {status}")
ok = counts.get("sse clean", 0) == sse and counts.get("ws clean", 0) == ws and status == 0 and seconds < grace
sys.exit(0 if ok else 1)
PY
echo "== server log"
cat "$work/server.log"
