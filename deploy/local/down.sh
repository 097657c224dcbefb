#!/usr/bin/env bash
# Stops everything up.sh started: the services, Tansu, PostgreSQL. Safe to run when nothing
# runs and to run twice.
#
#   deploy/local/down.sh          stop; keep data and logs in .local
#   deploy/local/down.sh --wipe   stop and delete .local (database, logs) as well
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wipe=0
for arg in "$@"; do
    case "$arg" in
    --wipe) wipe=1 ;;
    -h | --help)
        sed -n '2,6p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown argument: $arg (only --wipe is known)" ;;
    esac
done

# Services first: on SIGTERM they flush their outbox, which needs the database and the broker.
stop_services
stop_pidfile tansu tansu 10
stop_postgres

if ((wipe)); then
    # When the PostgreSQL files had to live outside .local (see prepare_pg_dirs in lib.sh),
    # .local/pg is a symlink to them: delete the real directory too.
    if [[ -L "$LOCAL_DIR/pg" ]]; then
        real_root="$(dirname "$(readlink -f "$LOCAL_DIR/pg")")"
        case "$real_root" in
        */benefit-pg-*)
            log "deleting $real_root"
            rm -rf "$real_root"
            ;;
        esac
    fi
    log "deleting $LOCAL_DIR"
    rm -rf "$LOCAL_DIR"
fi
log "stopped"
