#!/usr/bin/env bash
# Checks the development loop on loopback: runs roadie-dev on the `todo` example, keeps a
# client loop of requests going, and saves examples/todo/main.rs five times (the third time
# with a syntax error, the fourth time fixed). Prints the requests sent, refused and failed
# (both must be 0), the reloads done, whether the failed build was reported without a
# restart, and the median time from a save to the new version serving (the runner's reload
# line, printed once the new process has said it is ready). The file is restored at the end,
# even on failure. Bounded: five saves, at most 300 s.
set -euo pipefail
cd "$(dirname "$0")/.."

file=examples/todo/main.rs
backup=$(mktemp)
cp "$file" "$backup"
work=$(mktemp -d)
restore() {
  cp "$backup" "$file"
  rm -f "$backup"
  rm -rf "$work"
}
trap restore EXIT

echo "== building roadie-dev and the example"
cargo build --quiet -p roadie-dev
cargo build --quiet --example todo
runner="${CARGO_TARGET_DIR:-target}/debug/roadie-dev"

python3 - "$runner" "$file" "$work" <<'PY'
import http.client, os, re, signal, socket, statistics, subprocess, sys, threading, time

runner_path, source, work = sys.argv[1], sys.argv[2], sys.argv[3]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
addr = f"127.0.0.1:{port}"
deadline = time.monotonic() + 300

env = dict(os.environ, TODO_DATABASE=os.path.join(work, "todo.sqlite3"), RUST_LOG="warn")
runner = subprocess.Popen(
    [runner_path, "--example", "todo", "--addr", addr, "--watch", "examples/todo"],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

lines = []          # (time, line) of the runner's standard output
errors = []         # the compiler's errors and the app's log, on standard error
cond = threading.Condition()

def read(stream, into):
    for line in stream:
        with cond:
            into.append((time.monotonic(), line.rstrip("\n")))
            cond.notify_all()
threading.Thread(target=read, args=(runner.stdout, lines), daemon=True).start()
threading.Thread(target=read, args=(runner.stderr, errors), daemon=True).start()

def wait_for(pattern, after=0, timeout=180):
    end = min(time.monotonic() + timeout, deadline)
    with cond:
        while True:
            for i, (at, line) in enumerate(lines[after:], start=after):
                if re.search(pattern, line):
                    return i, at, line
            left = end - time.monotonic()
            if left <= 0 or runner.poll() is not None:
                raise SystemExit(f"timed out waiting for {pattern!r}; runner said: {[l for _, l in lines]}")
            cond.wait(left)

wait_for(r"started pid")

stats = {"sent": 0, "ok": 0, "refused": 0, "failed": 0}
failures = []
stop = threading.Event()
lock = threading.Lock()

def client():
    while not stop.is_set() and time.monotonic() < deadline:
        outcome = "ok"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            conn.request("GET", "/todos", headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                outcome = "failed"
                failures.append(f"status {response.status}")
            conn.close()
        except ConnectionRefusedError as e:
            outcome = "refused"
            failures.append(repr(e))
        except Exception as e:
            outcome = "failed"
            failures.append(repr(e))
        with lock:
            stats["sent"] += 1
            stats[outcome] += 1
        time.sleep(0.005)

clients = [threading.Thread(target=client) for _ in range(4)]
for c in clients:
    c.start()

with open(source) as f:
    original = f.read()

def save(text):
    with open(source, "w") as f:
        f.write(text)
    return time.monotonic()

times = []
failed_build_ok = False
mark = len(lines)
for n in range(1, 6):
    time.sleep(1.0)
    if n == 3:
        at = save(original + f"\n// reload-check {n}\nfn broken( {{\n")
        i, _, line = wait_for(r"build failed", after=mark)
        between = [l for _, l in lines[mark:i + 1] if "reload" in l or "started" in l]
        failed_build_ok = not between and "keeps serving" in line
        reported = any("error" in l for _, l in errors)
        failed_build_ok = failed_build_ok and reported
        print(f"save {n} (syntax error): {line}")
        mark = i + 1
        continue
    at = save(original + f"\n// reload-check {n}\n")
    i, when, line = wait_for(r"reload \d+:", after=mark)
    times.append(when - at)
    print(f"save {n}: {line}  [{when - at:.2f} s after the save]")
    mark = i + 1

time.sleep(4)   # the last old process drains (drain delay 3 s) while requests go on
stop.set()
for c in clients:
    c.join()

runner.send_signal(signal.SIGINT)
code = runner.wait(timeout=60)
time.sleep(0.2)
reloads = sum(1 for _, l in lines if re.search(r"reload \d+:", l))
print()
print(f"requests sent:              {stats['sent']}")
print(f"requests answered 200:      {stats['ok']}")
print(f"requests refused:           {stats['refused']}")
print(f"requests failed:            {stats['failed']}")
if failures:
    print(f"  first failures: {failures[:5]}")
print(f"reloads done:               {reloads} (4 good saves)")
print(f"failed build reported, no restart: {'yes' if failed_build_ok else 'NO'}")
print(f"median save -> new version serving: {statistics.median(times):.2f} s "
      f"(each: {', '.join(f'{t:.2f}' for t in times)})")
print(f"runner after Ctrl-C:        exit {code}, last line {lines[-1][1]!r}")
ok = (stats["refused"] == 0 and stats["failed"] == 0 and reloads == 4
      and failed_build_ok and code == 0 and stats["sent"] > 0)
print("reload check:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
