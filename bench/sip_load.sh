#!/usr/bin/env bash
# SIP load benchmark: CALLS concurrent sipp calls (default 500) at RATE calls
# per second (default 100) into a release build of `hotline serve` on
# loopback. Reports calls per second, calls at once, and RTP send pacing
# (p50/p99/max gap between packets of one call, measured where the caller
# receives them). Needs sipp (apt-get install -y sip-tester).
#
#   bench/sip_load.sh [CALLS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-500}
rate=${2:-100}
# Each call needs a media socket on the receiving side, plus the server's.
ulimit -n 65536 2>/dev/null || true
HOTLINE_LOAD_CALLS=$calls HOTLINE_LOAD_RATE=$rate \
  cargo test --release --locked --test load -- --nocapture 2>&1 | grep -E '^load:|panicked|FAILED|test result'
