#!/usr/bin/env bash
# Compile time of roadie's registrations against axum 0.8 (issue 17; docs/performance.md,
# "Compile time"). Generates standalone cargo projects into a temporary directory
# (scripts/gen_compile_bench.py): N roadie handlers `async fn hI(Path<u64>, Res<Db>) -> String`
# on an App, the same N handlers on an axum 0.8 Router with `Path` + `State`, and a chain of N
# typed roadie providers. Each depends on roadie by path (this repository) and takes a copy of
# its Cargo.lock, so axum and every shared crate are the versions roadie's tests use.
#
#   scripts/compile-time.sh [SIZE...] [debug|release...] [clean|edit...]
#                           [roadie|axum|providers...] [time|llvm-lines...]
#
# Every word is optional; each group left out means all of it: sizes 50 200 800, both
# profiles, both modes, the three crates, and both tasks. For example:
#   scripts/compile-time.sh 50 debug              # a quick run (a few minutes)
#   scripts/compile-time.sh 200 800 release clean # the long one
#   scripts/compile-time.sh 200 llvm-lines        # what a registration instantiates
#
# time: for each size and profile, builds the dependencies (untimed), then REPS rounds; each
#   round takes the crates in turn, in an order that rotates from round to round, so that a
#   busy machine's drift falls on every side alike. Per crate and round: "clean" =
#   `cargo clean -p <crate>` then a timed build of that crate alone (its dependencies stay
#   built); "edit" = one line of one handler (one provider) changed, then a
#   timed build (incremental in debug; release has no incremental compilation). Wall and CPU
#   seconds (user + sys of cargo and rustc) and the load average are written to a CSV, then
#   summarized as medians, ratios roadie / axum, and costs per handler.
# llvm-lines: `cargo llvm-lines` (installed with `cargo install cargo-llvm-lines` when absent)
#   for each selected crate and size, debug: lines of LLVM IR per generic function.
#
# Environment: REPS (rounds, default 3), BUDGET (seconds for the whole run, default 10800:
# the measurements left when it runs out are skipped and what was measured is reported),
# BUILD_TIMEOUT (seconds for one build, default 2400), CARGO_TARGET_DIR (the builds go to
# $CARGO_TARGET_DIR/compile-time, default target/compile-time; kept between runs so that
# dependencies are built once), OUT (the CSV, default $target/compile-time-<date>.csv).
# Network: crates.io only, to fetch what Cargo.lock names if it is not downloaded yet.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
gen="$repo/scripts/gen_compile_bench.py"

sizes=() profiles=() modes=() sides=() tasks=()
for arg in "$@"; do
  case $arg in
    [0-9]*) sizes+=("$arg") ;;
    debug | release) profiles+=("$arg") ;;
    clean | edit) modes+=("$arg") ;;
    roadie) sides+=(rh) ;;
    axum) sides+=(ah) ;;
    providers) sides+=(rp) ;;
    time | llvm-lines) tasks+=("$arg") ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(50 200 800)
[ ${#profiles[@]} -gt 0 ] || profiles=(debug release)
[ ${#modes[@]} -gt 0 ] || modes=(clean edit)
# A round cleans a crate before it edits it, whatever the order given.
if [ ${#modes[@]} -gt 1 ]; then modes=(clean edit); fi
[ ${#sides[@]} -gt 0 ] || sides=(rh ah rp)
[ ${#tasks[@]} -gt 0 ] || tasks=(time llvm-lines)

reps=${REPS:-3}
budget=${BUDGET:-10800}
build_timeout=${BUILD_TIMEOUT:-2400}
target="${CARGO_TARGET_DIR:-$repo/target}/compile-time"
mkdir -p "$target"
export CARGO_TARGET_DIR="$target"
out=${OUT:-$target/compile-time-$(date +%Y%m%d-%H%M%S).csv}

work=$(mktemp -d "${TMPDIR:-/tmp}/roadie-compile-time.XXXXXX")
log="$work/cargo.log"
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # The generated crates' artifacts: their paths are new on every run, so they would pile up.
  for project in "$work"/*/ "$work"/warm/*/; do
    [ -f "$project/Cargo.toml" ] || continue
    name=$(basename "$project")
    cargo clean -q -p "$name" --manifest-path "$project/Cargo.toml" >/dev/null 2>&1 || true
    cargo clean -q -p "$name" --release --manifest-path "$project/Cargo.toml" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

has() { local x=$1; shift; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
out_of_time() { [ "$SECONDS" -ge "$budget" ]; }

echo "== generating ${sizes[*]} into $work"
python3 "$gen" generate "$work" "$repo" "${sizes[@]}"
python3 "$gen" generate "$work/warm" "$repo" 2

echo "== fetching what Cargo.lock names (crates.io; nothing when already downloaded)"
for side in "${sides[@]}"; do
  cargo fetch -q --manifest-path "$work/${side}_${sizes[0]}/Cargo.toml"
done
export CARGO_NET_OFFLINE=true

# build DIR PROFILE: one build of the crate in DIR; its wall and CPU seconds in $wall $cpu, and
# in $alone 1 when it compiled that crate alone, 0 when it compiled anything else too (a
# dependency rebuilt because something else changed the shared target directory: not counted).
build() {
  local dir=$1 profile=$2 flags=() times before
  [ "$profile" = release ] && flags=(--release)
  times="$work/times"
  touch "$log"
  before=$(wc -l <"$log")
  local TIMEFORMAT='%R %U %S'
  if ! { time timeout "$build_timeout" cargo build "${flags[@]}" --manifest-path "$dir/Cargo.toml" \
    >>"$log" 2>&1; } 2>"$times"; then
    echo "build of $dir ($profile) failed or ran out of time; the end of its log:" >&2
    tail -20 "$log" >&2
    return 1
  fi
  read -r wall user sys <"$times"
  alone=1
  if tail -n +"$((before + 1))" "$log" | grep 'Compiling ' | grep -vq "Compiling $(basename "$dir") "; then
    alone=0
  fi
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
}

edits=0
edit() {
  edits=$((edits + 1))
  sed -i -E "s|let k = [0-9]+u64; // EDIT|let k = $((1000000 + edits))u64; // EDIT|" "$1/src/main.rs"
  grep -q "let k = $((1000000 + edits))u64; // EDIT" "$1/src/main.rs"
}

if has time "${tasks[@]}"; then
  echo "size,profile,mode,side,rep,wall,cpu,load,alone" >"$out"
  echo "== timing: sizes ${sizes[*]}; ${profiles[*]}; ${modes[*]}; crates ${sides[*]}; $reps rounds"
  echo "   raw figures: $out"
  for size in "${sizes[@]}"; do
    for profile in "${profiles[@]}"; do
      out_of_time && break 2
      # Dependencies first, untimed, through a crate of two handlers with the same
      # dependencies; the measured crate itself is built first only when no round cleans it.
      echo "-- $size, $profile: building the dependencies"
      for side in "${sides[@]}"; do
        build "$work/warm/${side}_2" "$profile"
        has clean "${modes[@]}" || build "$work/${side}_$size" "$profile"
      done
      for rep in $(seq "$reps"); do
        # Rotate the order: round 1 rh ah rp, round 2 ah rp rh, ...
        order=()
        for i in "${!sides[@]}"; do order+=("${sides[$(((i + rep - 1) % ${#sides[@]}))]}"); done
        for side in "${order[@]}"; do
          dir="$work/${side}_$size"
          for mode in "${modes[@]}"; do
            if out_of_time; then
              echo "   the budget of $budget s is spent: skipping the rest"
              break 5
            fi
            if [ "$mode" = clean ]; then
              flags=()
              [ "$profile" = release ] && flags=(--release)
              cargo clean -q -p "${side}_$size" "${flags[@]}" --manifest-path "$dir/Cargo.toml" >>"$log" 2>&1
            else
              edit "$dir"
            fi
            load=$(cut -d' ' -f1 /proc/loadavg)
            build "$dir" "$profile"
            echo "$size,$profile,$mode,$side,$rep,$wall,$cpu,$load,$alone" >>"$out"
            printf '   round %s  %-3s %-5s %7.2f s wall %7.2f s CPU  (load %s)%s\n' \
              "$rep" "$side" "$mode" "$wall" "$cpu" "$load" \
              "$([ "$alone" = 1 ] || echo '  not counted: dependencies were rebuilt')"
          done
        done
      done
    done
  done
  echo
  python3 "$gen" summarize "$out"
fi

if has llvm-lines "${tasks[@]}"; then
  if ! cargo llvm-lines --version >/dev/null 2>&1; then
    echo "== installing cargo-llvm-lines (crates.io)"
    (unset CARGO_NET_OFFLINE; cargo install -q cargo-llvm-lines)
  fi
  files=()
  for size in "${sizes[@]}"; do
    for side in "${sides[@]}"; do
      if out_of_time; then
        echo "   the budget of $budget s is spent: skipping the rest"
        break 2
      fi
      echo "== cargo llvm-lines: ${side}_$size (debug)"
      file="$target/llvm-lines-${side}_$size.txt"
      (cd "$work/${side}_$size" && timeout "$build_timeout" cargo llvm-lines --bin "${side}_$size" \
        >"$file" 2>>"$log")
      files+=("$file")
    done
  done
  [ ${#files[@]} -eq 0 ] || python3 "$gen" llvm-lines "$target" "${sizes[@]}"
fi
