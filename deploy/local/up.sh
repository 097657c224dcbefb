#!/usr/bin/env bash
# Runs the whole system locally: PostgreSQL and Tansu (installed when missing, reused when
# already running), the database roles and schemas, every topic, then the four services built
# from this checkout. Running it again is safe: infrastructure is reused, services restart on
# the fresh build.
#
#   deploy/local/up.sh                        everything, debug build
#   BENEFIT_PROFILE=release deploy/local/up.sh
#   BENEFIT_SKIP_SERVICES=1 deploy/local/up.sh   PostgreSQL and Tansu only
#
# Stop with deploy/local/down.sh.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

infra_up

if [[ "${BENEFIT_SKIP_SERVICES:-0}" == 1 ]]; then
    log "BENEFIT_SKIP_SERVICES=1: not starting the services"
    print_summary 0
    exit 0
fi

# The health checks below use curl, which minimal images lack.
ensure_command curl curl

log "building the services (profile $(profile_dir))"
mapfile -t profile_args < <(cargo_profile_args)
(cd "$REPO" && cargo build --bins "${profile_args[@]}") || die "cargo build failed"

# Restart rather than reuse, so the services run the build just made.
stop_services
for entry in "${SERVICES[@]}"; do
    IFS=: read -r name grpc metrics <<<"$entry"
    start_service "$name" "$grpc" "$metrics"
done
start_simulator
seed_demo

print_summary 1
