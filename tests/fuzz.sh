#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: tests/run.sh starts it beside
# the tests. HOTLINE_FUZZ_SECONDS per target (default 10). Installs
# cargo-fuzz from crates.io when it is missing. Each target starts from the
# inputs kept in fuzz/regressions/<target>/ and writes what it finds to a
# scratch corpus, never into the repository; a crash fails the run and
# leaves its input in fuzz/artifacts/<target>/ (keep it in regressions/
# once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${HOTLINE_FUZZ_SECONDS:-10}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "tests/fuzz.sh: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked --quiet
fi

targets=$(cd fuzz && cargo fuzz list)
# -s none: no sanitizer, so it builds on the stable toolchain; coverage
# guidance and the checks' assertions still run.
(cd fuzz && cargo fuzz build -s none --debug-assertions)

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
failed=()
for target in $targets; do
  mkdir -p "$corpus/$target"
  if (cd fuzz && cargo fuzz run -s none --debug-assertions "$target" \
        "$corpus/$target" "regressions/$target" \
        -- -max_total_time="$seconds" -rss_limit_mb=1024 -print_final_stats=1) \
        >"$corpus/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$corpus/$target.log" | grep -o '[0-9]*$' || echo '?')
    echo "tests/fuzz.sh: $target: $runs inputs in ${seconds}s, no failure"
  else
    tail -n 40 "$corpus/$target.log"
    echo "tests/fuzz.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
    failed+=("$target")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "tests/fuzz.sh: failed: ${failed[*]}" >&2; exit 1; }
