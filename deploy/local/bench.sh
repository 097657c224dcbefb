#!/usr/bin/env bash
# The benchmark: a national-scale benefit month through the local stack, timed from the first
# kiosk scan until every payment is credited by the bank simulator and reconciled to the đồng.
#
#   deploy/local/bench.sh                      1,000,000 payments (the setup alone takes long)
#   deploy/local/bench.sh --payments 20000     a smaller month
#   deploy/local/bench.sh --help               every option of the benchmark program
#
# It starts PostgreSQL and Tansu like up.sh (reused when running), builds the release profile,
# empties the local stack's database (the `benefit` database is dropped and provisioned again;
# the demo data is not loaded), and starts the services with their clocks following
# .local/clock-offset, so the benchmark can move them to the intake, approval and check-in days.
# The bank simulator answers every instruction as credited (ACCC) after its usual delay.
# Results: printed, and written to .local/bench/results-<time>.json.
#
#   BENEFIT_BENCH_PROFILE=payroll deploy/local/bench.sh ...
#                                     also samples that service's CPU with perf (linux-perf)
#                                     from the month's start; the hottest functions go to
#                                     .local/bench/profile-<service>.txt
#
# The stack keeps running afterwards on the benchmark's clock; up.sh restarts it on the wall
# clock with the demo data, down.sh stops it (and frees the broker's memory).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for arg in "$@"; do
    if [[ "$arg" == -h || "$arg" == --help ]]; then
        sed -n '2,18p' "${BASH_SOURCE[0]}"
        (cd "$REPO" && cargo run --quiet -p benchmark -- --help) || true
        exit 0
    fi
done

# Release unless told otherwise (BENEFIT_PROFILE=debug checks the script quickly).
export BENEFIT_PROFILE="${BENEFIT_PROFILE:-release}"
infra_up
ensure_command curl curl

log "building the services and the benchmark (profile $(profile_dir))"
mapfile -t profile_args < <(cargo_profile_args)
(cd "$REPO" && cargo build --bins "${profile_args[@]}") || die "cargo build failed"

stop_services
log "emptying the local stack's database"
pg_psql -d postgres -c "DROP DATABASE IF EXISTS benefit WITH (FORCE)" >/dev/null ||
    die "dropping database benefit failed"
provision

clock_file="$LOCAL_DIR/clock-offset"
benchmark="$REPO/target/$(profile_dir)/benchmark"
# The services start on the benchmark's first day, so their time only moves forward.
"$benchmark" --clock-only --clock-file "$clock_file" || die "setting the clock failed"
for entry in "${SERVICES[@]}"; do
    name="${entry%%:*}"
    export "$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')__CLOCK__OFFSET_FILE=$clock_file"
done
# Every instruction credited: the month measures payments, not account corrections.
export BANK_SIMULATOR__SIMULATOR__AC01_PER_MILLE=0 BANK_SIMULATOR__SIMULATOR__AC04_PER_MILLE=0 \
    BANK_SIMULATOR__SIMULATOR__MD07_PER_MILLE=0 BANK_SIMULATOR__SIMULATOR__TIMEOUT_PER_MILLE=0

for entry in "${SERVICES[@]}"; do
    IFS=: read -r name grpc metrics <<<"$entry"
    start_service "$name" "$grpc" "$metrics"
done
start_simulator

mkdir -p "$LOCAL_DIR/bench"
profiled="${BENEFIT_BENCH_PROFILE:-}"
if [[ -n "$profiled" ]]; then
    ensure_command perf linux-perf
    pid="$(pidfile_pid "$profiled" "$profiled")" || die "no running $profiled to profile"
    # Started now, it also samples the setup; the report is still dominated by the month
    # when the month is the larger part of the run.
    perf record -F 499 -g -p "$pid" -o "$LOCAL_DIR/bench/perf-$profiled.data" \
        >>"$LOG_DIR/perf.log" 2>&1 &
    perf_pid=$!
fi
log "running the benchmark: $benchmark $*"
cd "$REPO"
status=0
"$benchmark" \
    --clock-file "$clock_file" \
    --run-dir "$RUN_DIR" \
    --brokers "$KAFKA_HOST:$KAFKA_PORT" \
    --database-url "postgres://$PG_SUPERUSER:$PG_SUPERPASSWORD@$PG_HOST:$PG_PORT/benefit" \
    --results "$LOCAL_DIR/bench/results-$(date -u +%Y%m%dT%H%M%SZ).json" \
    "$@" || status=$?
if [[ -n "$profiled" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf report -i "$LOCAL_DIR/bench/perf-$profiled.data" --no-children --sort symbol -g none \
        --stdio 2>/dev/null | grep -v '^$' | head -n 80 >"$LOCAL_DIR/bench/profile-$profiled.txt" || true
    log "profile of $profiled: .local/bench/profile-$profiled.txt"
fi
exit "$status"
