#!/usr/bin/env bash
# Offer latency benchmark: critical tickets created through the real
# `hotline ticketing` (release build) at RATE per second, timed from the
# start of CreateTicket to the offer on a duty lawyer's WatchOffers stream
# (10 lawyers on duty), on SQLite and on PostgreSQL (the local server at
# HOTLINE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).
# Prints p50, p99 and max, and the CreateTicket latency beside them, for
# 100 and 1,000 tickets per second unless other rates are given. With
# HOTLINE_BENCH_CALLERS=N, SECONDS x RATE tickets come from N callers back
# to back instead, and the create rate the server sustains is printed.
#
#   bench/offer_latency.sh [SECONDS [RATE...]]   (default: 5 s, 100 and 1000/s)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(100 1000)
for rate in "${rates[@]}"; do
  HOTLINE_BENCH_RATE=$rate HOTLINE_BENCH_TICKETS=$((rate * seconds)) \
    cargo test --release --locked --test offer_latency -- --nocapture --test-threads 1 2>&1 \
    | grep -oE 'offer latency.*|panicked.*|FAILED.*'
done
