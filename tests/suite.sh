#!/usr/bin/env bash
# Runs every test executable of the workspace once, in two groups side by
# side, and prints cargo test's usual lines (`Running …`, `test … ok`,
# `test result: …`), each group's output whole when the group ends.
#
# - The real-time group: the executables whose source says
#   `// test-group: real-time` (calls with real SIP peers, sipp and
#   baresip, over real UDP, and prompts heard in real time). They run one
#   after another, one test at a time (--test-threads=1), so that two calls
#   never fight over the machine's cores.
# - Every other executable (unit, store, API and CLI tests), one after
#   another with the default test threads, beside the real-time group and
#   at a lower priority (nice 10), so the calls keep their real time.
#
# The executables are the ones `cargo test --workspace --no-run` builds (the
# same build and profile as `cargo test`; there are no doctests). Each runs
# in its package's directory, as cargo test runs it.
#
# Usage: tests/suite.sh [--locked]   (extra arguments go to cargo test --no-run)
set -uo pipefail
cd "$(dirname "$0")/.."

list=$(mktemp)
realtime_log=$(mktemp)
other_log=$(mktemp)
realtime_pid=""
# An interrupted run stops its background group too.
trap '[ -n "$realtime_pid" ] && kill "$realtime_pid" 2>/dev/null; rm -f "$list" "$realtime_log" "$other_log"' EXIT

# One line per test executable: source file, package directory, executable.
if ! cargo test --workspace --no-run --message-format=json-render-diagnostics "$@" >"$list.json"; then
  rm -f "$list.json"
  echo "tests/suite.sh: the tests did not build" >&2
  exit 101
fi
# Test builds only: `"profile":{… "test":true}`. (The target object says
# `"test":true` too, for the hotline binary built for the integration
# tests; that one is not a test.)
grep '"reason":"compiler-artifact"' "$list.json" | grep -E '"profile":\{[^}]*"test":true' | while read -r line; do
  exe=$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' <<<"$line")
  src=$(sed -n 's/.*"src_path":"\([^"]*\)".*/\1/p' <<<"$line")
  manifest=$(sed -n 's/.*"manifest_path":"\([^"]*\)".*/\1/p' <<<"$line")
  [ -n "$exe" ] && printf '%s\t%s\t%s\n' "$src" "$(dirname "$manifest")" "$exe"
done | sort -u >"$list"
rm -f "$list.json"
if [ ! -s "$list" ]; then
  echo "tests/suite.sh: no test executable found" >&2
  exit 101
fi

# run_group LOG THREADS: runs the executables listed on standard input.
run_group() {
  local log=$1 threads=$2 status=0 src dir exe
  while IFS=$'\t' read -r src dir exe; do
    [ -n "$exe" ] || continue
    echo "     Running ${src#"$PWD"/} (${exe#"$PWD"/})" >>"$log"
    if ! (cd "$dir" && "$exe" ${threads:+--test-threads="$threads"}) >>"$log" 2>&1; then
      status=1
    fi
  done
  return "$status"
}

is_realtime() { grep -q '^// test-group: real-time' "$1"; }

realtime=() other=()
while IFS=$'\t' read -r src dir exe; do
  if is_realtime "$src"; then realtime+=("$src"$'\t'"$dir"$'\t'"$exe"); else other+=("$src"$'\t'"$dir"$'\t'"$exe"); fi
done <"$list"

echo "tests/suite.sh: ${#other[@]} executables beside ${#realtime[@]} real-time ones; each group's output follows when it ends"
printf '%s\n' "${realtime[@]}" | run_group "$realtime_log" 1 &
realtime_pid=$!
export -f run_group
printf '%s\n' "${other[@]}" | nice -n 10 bash -c 'run_group "$1" ""' _ "$other_log"
other_status=$?
cat "$other_log"
wait "$realtime_pid"
realtime_status=$?
realtime_pid=""
cat "$realtime_log"
echo "tests/suite.sh: ${#other[@]} executables beside ${#realtime[@]} real-time ones (one at a time)"
[ "$other_status" -eq 0 ] && [ "$realtime_status" -eq 0 ]
