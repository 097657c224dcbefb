#!/usr/bin/env bash
# Runs the tests the way CI does: starts (or reuses) PostgreSQL and Tansu exactly like up.sh,
# then the gate: formatting, clippy with warnings denied, all tests. Stops at the first failure.
# Extra arguments go to the test runner, e.g. `deploy/local/test.sh outbox`.
#
# PostgreSQL and Tansu keep running afterwards, so a second run starts at once;
# deploy/local/down.sh stops them.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

infra_up
ensure_test_tools
drop_test_databases

# The tests create what they need (databases, roles, topics) through these.
export TEST_DATABASE_ADMIN_URL="postgres://$PG_SUPERUSER:$PG_SUPERPASSWORD@$PG_HOST:$PG_PORT/postgres"
export TEST_KAFKA_BROKERS="$KAFKA_HOST:$KAFKA_PORT"
log "TEST_DATABASE_ADMIN_URL=$TEST_DATABASE_ADMIN_URL"
log "TEST_KAFKA_BROKERS=$TEST_KAFKA_BROKERS"
# The fault suite runs a broker of its own, on SQLite storage, from the same binary.
export FAULT_TANSU="$TANSU"

cd "$REPO"

log "gate 1/3: cargo fmt --all --check"
cargo fmt --all --check || die "formatting differs; run cargo fmt --all"

log "gate 2/3: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || die "clippy found problems"

# The fault suite runs the services as processes, from these binaries.
log "building the service binaries: cargo build --workspace --bins"
cargo build --workspace --bins || die "the service binaries did not build"

if cargo nextest --version >/dev/null 2>&1; then
    log "gate 3/3: cargo nextest run --workspace $*"
    cargo nextest run --workspace "$@" || die "tests failed"
else
    log "gate 3/3: cargo test --workspace $* (cargo-nextest is not installed)"
    cargo test --workspace "$@" || die "tests failed"
fi
log "all green"
