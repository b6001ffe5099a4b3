# Shared by scripts/drain.sh, scripts/slowloris.sh and scripts/long-lived.sh (sourced, not
# run): builds the release example named by `$example` (default `todo`) as `$bin`, keeps one
# server process at a time in `$server`, and cleans up on exit. The caller sets `addr` before
# sourcing it.

echo "== building the example (release)"
example=${example:-todo}
cargo build --release --quiet --example "$example"
bin=${CARGO_TARGET_DIR:-target}/release/examples/$example

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill -KILL "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until the server at $addr answers its readiness route.
wait_ready() {
  for _ in $(seq 200); do
    curl -fsS -o /dev/null "http://$addr/ready" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the server did not become ready" >&2
  return 1
}
