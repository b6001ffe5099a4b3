#!/usr/bin/env bash
# Conditional requests against the release `todo` example, with curl's own ETag handling:
# a GET that saves the todo's ETag (`--etag-save`), a repeat GET that sends it back
# (`--etag-compare`) and gets `304` without a body, a PUT without `If-Match` (`428`), and a
# lost update: two PUTs sent with the same `If-Match`, where the second gets `412`.
#
#   scripts/conditional.sh
#
# Loopback only; every request is bounded by `--max-time`; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

addr=127.0.0.1:3921

# shellcheck source=scripts/example.sh
. scripts/example.sh

export RUST_LOG=${RUST_LOG:-warn} TODO_ADDR=$addr TODO_DATABASE=$work/conditional.sqlite3
"${CARGO_TARGET_DIR:-target}/release/examples/todo" >"$work/server.log" 2>&1 &
server=$!
wait_ready

curl=(curl -sS --max-time 5)
# Prints the status line, the named response headers and the body of a request.
show() {
  local title=$1
  shift
  echo "-- $title"
  # curl leaves an output file untouched when there is no body (a 304): start afresh.
  rm -f "$work/headers" "$work/body"
  "${curl[@]}" -D "$work/headers" -o "$work/body" "$@"
  head -1 "$work/headers" | tr -d '\r'
  grep -iE '^(etag|last-modified|vary):' "$work/headers" | tr -d '\r' || true
  if [ -s "$work/body" ]; then cat "$work/body"; echo; else echo "(no body)"; fi
}

json=(-H 'content-type: application/json')
show "POST /todos" "${json[@]}" -d '{"title":"pack the van"}' "http://$addr/todos"
todo="http://$addr/todos/1"

show "GET, saving the ETag (--etag-save)" --etag-save "$work/etag" "$todo"
echo "saved ETag: $(cat "$work/etag")"
show "the same GET again (--etag-compare): not modified" --etag-compare "$work/etag" "$todo"

show "PUT without If-Match" -X PUT "${json[@]}" -d '{"done":true}' "$todo"

etag=$(cat "$work/etag")
show "client A: PUT with If-Match: $etag" -X PUT "${json[@]}" -H "if-match: $etag" \
  -d '{"title":"load the van"}' "$todo"
show "client B: PUT with the same If-Match: $etag (the lost update)" -X PUT "${json[@]}" \
  -H "if-match: $etag" -d '{"title":"unpack the van"}' "$todo"
show "GET: client A's change stands" "$todo"

kill -TERM "$server"
wait "$server" || true
server=""
