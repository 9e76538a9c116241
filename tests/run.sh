#!/usr/bin/env bash
# The project's test command (README). On a fresh machine it installs the
# Debian packages the tests need (apt-get update && apt-get install -y …),
# makes sure PostgreSQL answers at 127.0.0.1:5432 (user postgres, database
# test, trust auth), checks formatting and clippy, runs every test once, and
# fails if the PostgreSQL half of the store suite did not run. The fuzz
# targets are built beside the tests and each runs for HOTLINE_FUZZ_SECONDS
# (default 10; 0 skips) after them.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${HOTLINE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages.
mapfile -t packages < <(grep -v -E '^\s*(#|$)' tests/debian-packages.txt)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# 2. PostgreSQL, only when the tests use the default local server.
if [ -z "${HOTLINE_TEST_POSTGRES_URL:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    echo "tests/run.sh: starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if ! psql "$pg_url" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    # A freshly installed server asks for passwords on TCP and has no
    # database `test`: allow local trust auth, as CI's server does.
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    echo "tests/run.sh: allowing trust auth for 127.0.0.1 in $hba"
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    sleep 1
    psql "${pg_url%/*}/postgres" -qAtc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
      || psql "${pg_url%/*}/postgres" -qc 'CREATE DATABASE test'
  fi
  # Databases left by interrupted earlier runs.
  psql "$pg_url" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'hotline\_t\_%'" \
    | while read -r db; do psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
fi

# 3. The rules the code keeps: formatting first (it takes a second).
cargo fmt --all -- --check

# 4. One build, one profile, for unit, store and end-to-end tests.
cargo test --workspace --locked --no-run

# 5. Clippy with warnings as errors (the lints are in Cargo.toml's
#    [workspace.lints]) runs while the tests do, at the lowest priority: the
#    tests spend most of their time waiting on real-time calls, and a nice
#    19 job takes only the CPU they leave. Its own target directory keeps it
#    from waiting on the test run's lock.
log=$(mktemp)
clippy_log=$(mktemp)
nice -n 19 cargo clippy --workspace --all-targets --locked --target-dir target/clippy \
  -- -D warnings >"$clippy_log" 2>&1 &
clippy_pid=$!

# 6. The fuzz targets' build (tests/fuzz.sh build), beside the tests at the
#    same low priority, in its own target directory; they run after the
#    tests, so fuzzing never competes with a real-time call (run beside
#    them, it slowed the calls by a third on a fresh clone).
fuzz_log=$(mktemp)
trap 'rm -f "$log" "$clippy_log" "$fuzz_log"' EXIT
fuzz_pid=""
if [ "${HOTLINE_FUZZ_SECONDS:-10}" -gt 0 ]; then
  nice -n 19 tests/fuzz.sh build >"$fuzz_log" 2>&1 &
  fuzz_pid=$!
fi

# 7. The tests: the real-time group (calls with sipp and baresip) one at
#    a time, beside the others (tests/suite.sh).
set +e
tests/suite.sh --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (each executable prints its own).
summary=$(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  END { printf "tests: %d passed, %d failed", p, f }' "$log")
if wait "$clippy_pid"; then
  echo "tests/run.sh: cargo fmt and cargo clippy -D warnings are clean"
else
  cat "$clippy_log"
  echo "tests/run.sh: cargo clippy found problems (above)" >&2
  [ "$status" -ne 0 ] || status=1
fi
# 8. Each fuzz target for a bounded time.
if [ -n "$fuzz_pid" ]; then
  if ! wait "$fuzz_pid"; then
    cat "$fuzz_log"
    echo "tests/run.sh: the fuzz targets did not build (above)" >&2
    [ "$status" -ne 0 ] || status=1
  elif tests/fuzz.sh run >"$fuzz_log" 2>&1; then
    grep '^tests/fuzz.sh' "$fuzz_log"
  else
    cat "$fuzz_log"
    echo "tests/run.sh: fuzzing found a failure (above)" >&2
    [ "$status" -ne 0 ] || status=1
  fi
fi
if [ "$status" -ne 0 ]; then
  echo "$summary"
  exit "$status"
fi

pg_ran=$(grep -c -E '^test postgres::[a-z_]+ \.\.\. ok$' "$log" || true)
sqlite_ran=$(grep -c -E '^test sqlite::[a-z_]+ \.\.\. ok$' "$log" || true)
echo "tests/run.sh: store suite passed on SQLite ($sqlite_ran tests) and PostgreSQL ($pg_ran tests)"
if [ "$pg_ran" -eq 0 ] || [ "$pg_ran" -ne "$sqlite_ran" ]; then
  echo "tests/run.sh: the PostgreSQL store tests did not all run" >&2
  exit 1
fi
echo "$summary"
