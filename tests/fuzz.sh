#!/usr/bin/env bash
# The fuzz targets, in two steps that tests/run.sh takes apart:
#   tests/fuzz.sh build   installs cargo-fuzz from crates.io when missing and
#                         builds every target (-s none: the stable toolchain);
#   tests/fuzz.sh run     runs each target for HOTLINE_FUZZ_SECONDS (default
#                         10), starting from fuzz/regressions/<target>/ and
#                         writing finds only to a scratch corpus.
# With no argument it does both. A crash fails the run and leaves its input
# in fuzz/artifacts/<target>/ (keep it in regressions/ once fixed). Exit
# status: 0 clean, 1 a target failed, 2 cargo-fuzz or the build failed.
set -euo pipefail
cd "$(dirname "$0")/.."

step="${1:-all}"
seconds="${HOTLINE_FUZZ_SECONDS:-10}"
# The scratch corpus of `run`, removed however the script ends.
corpus=""
trap 'if [ -n "$corpus" ]; then rm -rf "$corpus"; fi' EXIT

build() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "tests/fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked --quiet \
      || { echo "tests/fuzz.sh: cannot install cargo-fuzz" >&2; exit 2; }
  fi
  (cd fuzz && cargo fuzz build -s none --debug-assertions) \
    || { echo "tests/fuzz.sh: cannot build the fuzz targets (a C++ compiler: apt-get install -y g++)" >&2; exit 2; }
}

run() {
  local failed=() targets
  targets=$(cd fuzz && cargo fuzz list)
  corpus=$(mktemp -d)
  for target in $targets; do
    mkdir -p "$corpus/$target"
    if (cd fuzz && cargo fuzz run -s none --debug-assertions "$target" \
          "$corpus/$target" "regressions/$target" \
          -- -max_total_time="$seconds" -rss_limit_mb=1024 -print_final_stats=1) \
          >"$corpus/$target.log" 2>&1; then
      runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$corpus/$target.log" | grep -o '[0-9]*$' || echo '?')
      echo "tests/fuzz.sh: $target: $runs inputs in ${seconds}s, no failure"
    else
      tail -n 60 "$corpus/$target.log"
      echo "tests/fuzz.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
      failed+=("$target")
    fi
  done
  [ ${#failed[@]} -eq 0 ] || { echo "tests/fuzz.sh: failed: ${failed[*]}" >&2; exit 1; }
}

case "$step" in
  build) build ;;
  run) run ;;
  all) build; run ;;
  *) echo "usage: tests/fuzz.sh [build|run]" >&2; exit 2 ;;
esac
