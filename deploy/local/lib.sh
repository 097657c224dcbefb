# shellcheck shell=bash
# Shared functions of the local stack (PostgreSQL, Tansu and the four services).
# Sourced by up.sh, down.sh and test.sh, which set `-euo pipefail`; the functions rely on it.
#
# Runtime state lives in $REPO/.local (gitignored):
#   .local/pg               PostgreSQL data directory
#   .local/pg-socket        PostgreSQL unix socket directory
#   .local/log/<name>.log   logs of PostgreSQL, Tansu and the services
#   .local/run/<name>.pid   pid files of Tansu and the services (PostgreSQL keeps its own in
#                           its data directory)
#
# Settings (environment variables):
#   BENEFIT_PG_PORT      PostgreSQL port                          (54329)
#   BENEFIT_KAFKA_PORT   Tansu port                               (9092)
#   BENEFIT_PARTITIONS   partitions of topics without their own   (4)
#   BENEFIT_PROFILE      cargo profile of the services            (debug; release switches)

# The repository is wherever this file is, so a clone works from any directory.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$REPO/.local"
LOG_DIR="$LOCAL_DIR/log"
RUN_DIR="$LOCAL_DIR/run"
DEPLOY_DIR="$REPO/deploy/local"

# The only absolute path: where Debian's postgresql-15 package puts its programs.
PG_BIN=/usr/lib/postgresql/15/bin
PG_HOST=127.0.0.1
PG_PORT="${BENEFIT_PG_PORT:-54329}"
# Local development and CI only; see provision.sql for the service roles.
PG_SUPERUSER=postgres
PG_SUPERPASSWORD=postgres
PG_DATA="$LOCAL_DIR/pg"
PG_LOG="$LOG_DIR/postgres.log"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${BENEFIT_KAFKA_PORT:-9092}"
PARTITIONS="${BENEFIT_PARTITIONS:-4}"
TANSU_VERSION=0.6.0
# dynostore: the memory storage of the local stack; libsql: the SQLite storage of the fault
# suite's own broker, which keeps records and consumer groups across a restart.
TANSU_FEATURES=dynostore,libsql
# Set by ensure_tansu.
TANSU=""

# name:gRPC port:metrics/health port. The services default to these ports themselves.
SERVICES=(eligibility:50051:9101 checkin:50052:9102 payroll:50053:9103 transfer:50054:9104)

# ---------------------------------------------------------------------------------------------
# Messages

log() { printf '[local] %s\n' "$*" >&2; }
warn() { printf '[local] warning: %s\n' "$*" >&2; }
die() {
    printf '[local] error: %s\n' "$*" >&2
    exit 1
}

# Prints the last lines of a log file, so a failure shows its cause where it is reported.
show_log_tail() {
    local file="$1" lines="${2:-40}"
    if [[ -f "$file" ]]; then
        printf '[local] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2 || true
        printf '[local] ---- end of %s ----\n' "$file" >&2
    fi
}

# ---------------------------------------------------------------------------------------------
# Processes and ports

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Runs a command with root rights: directly as root, through sudo otherwise.
as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root rights for: $* (run as root or install sudo)"
    fi
}

# True when something accepts TCP connections on host:port. Uses bash's /dev/tcp so no extra
# tool is needed on a fresh machine.
port_open() {
    local host="$1" port="$2"
    # shellcheck disable=SC2016 # $0 and $1 belong to the inner shell.
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# wait_port HOST PORT TIMEOUT_SECONDS [PID]: waits until the port accepts connections; gives up
# early when PID (the process expected to open it) has exited.
wait_port() {
    local host="$1" port="$2" timeout="$3" pid="${4:-}"
    local deadline=$((SECONDS + timeout))
    until port_open "$host" "$port"; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}

# Pid recorded in .local/run/NAME.pid when that process still runs the expected program, so a
# pid reused by an unrelated process after a reboot is never signalled.
# pidfile_pid NAME PROGRAM
pidfile_pid() {
    local name="$1" program="$2" file="$RUN_DIR/$1.pid" pid comm args
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Read from /proc rather than with ps, which minimal images lack. The kernel keeps the
    # first 15 characters of the program name; an interpreted program shows its interpreter
    # there and its own path in the arguments.
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    if [[ "$comm" == "${program:0:15}" || " $args " == *"/$program "* ]]; then
        printf '%s\n' "$pid"
    else
        return 1
    fi
}

# start_background NAME COMMAND...: starts COMMAND detached (own session, so closing the
# terminal or pressing Ctrl-C in it does not stop it), output appended to .local/log/NAME.log,
# pid in .local/run/NAME.pid. The process writes its own pid before exec, so the file holds the
# pid of the program itself and not of a wrapper.
start_background() {
    local name="$1"
    shift
    mkdir -p "$LOG_DIR" "$RUN_DIR"
    rm -f "$RUN_DIR/$name.pid"
    printf '\n[local] ==== %s starting %s ====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" \
        >>"$LOG_DIR/$name.log"
    # shellcheck disable=SC2016 # $0 and $@ belong to the inner shell.
    setsid bash -c 'echo "$$" >"$0"; exec "$@"' "$RUN_DIR/$name.pid" "$@" \
        >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s "$RUN_DIR/$name.pid" ]] && break
        sleep 0.1
    done
    [[ -s "$RUN_DIR/$name.pid" ]] || die "$name did not start (see $LOG_DIR/$name.log)"
    cat "$RUN_DIR/$name.pid"
}

# stop_pidfile NAME PROGRAM [GRACE_SECONDS]: SIGTERM, then SIGKILL after the grace period (the
# services use it to finish in-flight work and flush their outbox). Quiet success when nothing
# runs.
stop_pidfile() {
    local name="$1" program="$2" grace="${3:-30}" pid deadline
    if ! pid="$(pidfile_pid "$name" "$program")"; then
        rm -f "$RUN_DIR/$name.pid"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            warn "$name (pid $pid) still runs after ${grace}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$RUN_DIR/$name.pid"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# PostgreSQL refuses to run as root. As root, its programs run as the `postgres` system user
# that the Debian package creates; otherwise as the calling user. They start in / because the
# caller's working directory may be closed to that user.
pg_run() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# apt_install PACKAGE...: installs distribution packages, refreshing the package index only
# when the first attempt fails (it may be missing or stale on a fresh machine).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: installing $* needs Debian or Ubuntu"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@")
    if ! as_root "${install[@]}"; then
        log "install failed; refreshing the package index and retrying"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        as_root "${install[@]}"
    fi
}

# ensure_command COMMAND PACKAGE: installs PACKAGE when COMMAND is missing (minimal images).
ensure_command() {
    if ! command -v "$1" >/dev/null 2>&1; then
        log "$1 is missing; installing the distribution's $2 package"
        apt_install "$2"
    fi
}

ensure_postgres_installed() {
    if [[ ! -x "$PG_BIN/initdb" ]]; then
        log "PostgreSQL 15 is missing; installing the distribution's postgresql-15 package"
        apt_install postgresql-15
        [[ -x "$PG_BIN/initdb" ]] || die "postgresql-15 installed but $PG_BIN/initdb is missing"
    fi
    if is_root && ! id -u postgres >/dev/null 2>&1; then
        die "running as root needs the 'postgres' system user (created by the postgresql-15 package)"
    fi
    log "PostgreSQL: $("$PG_BIN/postgres" --version)"
}

# Chooses where the PostgreSQL files go and creates the directories. Normally they are
# .local/pg, .local/pg-socket and .local/log/postgres.log. As root the files belong to the
# `postgres` user, which must be able to reach them; when the repository sits below a directory
# that user cannot traverse (a home directory closed to others, say), they go to
# /tmp/benefit-pg-<hash of $REPO> instead, and .local/pg and .local/log/postgres.log become
# symlinks to them, so every other function and the people reading the files keep using the
# .local paths.
prepare_pg_dirs() {
    mkdir -p "$LOCAL_DIR" "$LOG_DIR" "$RUN_DIR"
    local root="$LOCAL_DIR"
    if is_root; then
        # Other users must be able to traverse .local itself, whatever the umask was.
        chmod go+x "$LOCAL_DIR"
        if [[ -L "$PG_DATA" ]] || ! runuser -u postgres -- test -x "$LOCAL_DIR"; then
            root="$(pg_fallback_root)"
        fi
    fi
    # A unix socket path is limited to 107 bytes; a deep checkout would exceed it.
    local socket_dir="$root/pg-socket"
    if ((${#socket_dir} + 16 > 107)); then
        socket_dir="$(pg_fallback_root)/pg-socket"
    fi

    if [[ "$root" != "$LOCAL_DIR" ]]; then
        log "the postgres user cannot reach $LOCAL_DIR; keeping PostgreSQL files in $root"
        mkdir -p "$root/pg"
        [[ -L "$PG_DATA" || ! -e "$PG_DATA" ]] || die "$PG_DATA exists; remove it or run down.sh --wipe"
        ln -sfn "$root/pg" "$PG_DATA"
        ln -sfn "$root/postgres.log" "$PG_LOG"
    fi
    PG_SOCKET_DIR="$socket_dir"
    PG_DATA_REAL="$(readlink -f "$PG_DATA")"
    PG_LOG_REAL="$(readlink -f "$PG_LOG")"

    mkdir -p "$PG_DATA_REAL" "$PG_SOCKET_DIR"
    touch "$PG_LOG_REAL"
    chmod 700 "$PG_DATA_REAL"
    if is_root; then
        # Only what PostgreSQL writes changes hands: the log directory also holds the logs of
        # Tansu and the services, and the postgres user only needs its own file in it.
        chown postgres: "$PG_DATA_REAL" "$PG_SOCKET_DIR" "$PG_LOG_REAL"
    fi
}

# /tmp/benefit-pg-<hash of $REPO>: one per checkout, owned by the caller, open for traversal
# only (the data directory inside it is 0700 and belongs to postgres).
pg_fallback_root() {
    local hash
    hash="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
    local dir="${TMPDIR:-/tmp}/benefit-pg-$hash"
    mkdir -p "$dir"
    chmod 755 "$dir"
    [[ "$(stat -c %U "$dir")" == "$(id -un)" ]] || die "$dir exists and belongs to another user"
    printf '%s\n' "$dir"
}

# Configuration written on every start, so a changed port or setting applies on the next start.
write_pg_config() {
    local conf="$PG_DATA_REAL/benefit.conf" hba="$PG_DATA_REAL/pg_hba.conf"
    cat >"$conf" <<EOF
# Written by deploy/local/lib.sh on every start; edit that file instead.
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
password_encryption = 'scram-sha-256'
# Local development and CI only: durability is traded for speed, the data is disposable.
fsync = off
synchronous_commit = off
full_page_writes = off
# Local development and CI only: four services with their pools plus parallel tests.
max_connections = 300
EOF
    # Local development only: everybody authenticates with a password (scram-sha-256), over
    # the socket as well as over 127.0.0.1; nothing else is accepted.
    cat >"$hba" <<'EOF'
# Written by deploy/local/lib.sh on every start; edit that file instead.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
EOF
    if ! grep -qx "include = 'benefit.conf'" "$PG_DATA_REAL/postgresql.conf"; then
        printf "\ninclude = 'benefit.conf'\n" >>"$PG_DATA_REAL/postgresql.conf"
    fi
    if is_root; then
        chown postgres: "$conf" "$hba" "$PG_DATA_REAL/postgresql.conf"
    fi
}

pg_running() {
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
    pg_run "$PG_BIN/pg_ctl" status -D "$(readlink -f "$PG_DATA")" >/dev/null 2>&1
}

pg_pid() {
    head -n 1 "$(readlink -f "$PG_DATA")/postmaster.pid" 2>/dev/null || true
}

start_postgres() {
    prepare_pg_dirs
    if pg_running; then
        log "PostgreSQL already runs (pid $(pg_pid), data $PG_DATA); reusing it"
    else
        if port_open "$PG_HOST" "$PG_PORT"; then
            die "port $PG_HOST:$PG_PORT is taken by another program; stop it or set BENEFIT_PG_PORT"
        fi
        if [[ ! -f "$PG_DATA_REAL/PG_VERSION" ]]; then
            log "initialising PostgreSQL data directory $PG_DATA"
            # initdb reads the superuser password from a file, which must be readable by the
            # user initdb runs as (a pipe on /dev/stdin is not, after runuser).
            local pwfile status=0
            pwfile="$(mktemp)"
            printf '%s\n' "$PG_SUPERPASSWORD" >"$pwfile"
            if is_root; then chown postgres: "$pwfile"; fi
            # --no-sync: the cluster is disposable, like fsync=off in write_pg_config.
            pg_run "$PG_BIN/initdb" -D "$PG_DATA_REAL" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
                --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync \
                >>"$PG_LOG_REAL" 2>&1 || status=$?
            rm -f "$pwfile"
            if ((status != 0)); then
                show_log_tail "$PG_LOG_REAL"
                die "initdb failed"
            fi
        fi
        write_pg_config
        log "starting PostgreSQL on $PG_HOST:$PG_PORT"
        if ! pg_run "$PG_BIN/pg_ctl" start -D "$PG_DATA_REAL" -l "$PG_LOG_REAL" -w -t 60 >/dev/null; then
            show_log_tail "$PG_LOG_REAL"
            die "PostgreSQL did not start"
        fi
    fi
    if ! wait_port "$PG_HOST" "$PG_PORT" 30; then
        show_log_tail "$PG_LOG_REAL"
        die "PostgreSQL runs but does not accept connections on $PG_HOST:$PG_PORT (a different BENEFIT_PG_PORT than at its start?)"
    fi
}

stop_postgres() {
    if pg_running; then
        log "stopping PostgreSQL (pid $(pg_pid))"
        pg_run "$PG_BIN/pg_ctl" stop -D "$(readlink -f "$PG_DATA")" -m fast -w -t 60 >/dev/null
    fi
}

# psql of the distribution as the superuser over TCP (the same path the tests use).
pg_psql() {
    PGPASSWORD="$PG_SUPERPASSWORD" PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -q \
        -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -v ON_ERROR_STOP=1 "$@"
}

provision() {
    log "provisioning database 'benefit' (one role and one schema per service)"
    pg_psql -d postgres -f "$DEPLOY_DIR/provision.sql" >/dev/null ||
        die "provisioning failed (deploy/local/provision.sql)"
}

# ---------------------------------------------------------------------------------------------
# Tansu

tansu_version_of() {
    "$1" --version 2>/dev/null | awk 'NR == 1 { print $NF }'
}

# Prints the first tansu binary of the wanted version: on PATH, then in cargo's bin directory.
find_tansu() {
    local candidate
    for candidate in "$(command -v tansu 2>/dev/null || true)" \
        "${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin/tansu" "$HOME/.cargo/bin/tansu"; do
        if [[ -n "$candidate" && -x "$candidate" ]] &&
            [[ "$(tansu_version_of "$candidate")" == "$TANSU_VERSION" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

# True when cargo's record of the tansu it installed lacks a feature of TANSU_FEATURES (an
# install from before the fault suite needed libsql). A tansu cargo did not install is taken as
# it is.
tansu_features_missing() {
    local record="${CARGO_HOME:-$HOME/.cargo}/.crates2.json" entry feature
    [[ -f "$record" ]] || return 1
    entry="$(grep -o "\"tansu $TANSU_VERSION [^}]*}" "$record" 2>/dev/null)" || return 1
    for feature in ${TANSU_FEATURES//,/ }; do
        [[ "$entry" == *"\"$feature\""* ]] || return 0
    done
    return 1
}

# Finds a tansu binary of the wanted version, installing it from crates.io when there is none
# or when cargo installed it without a feature the stack needs. Sets TANSU.
ensure_tansu() {
    # Another run may be building it right now (about 20 minutes); a second build in parallel
    # would only compete for the same cores and the same install directory.
    if pgrep -f "cargo install tansu" >/dev/null 2>&1; then
        log "tansu is being installed by another process; waiting for it to finish"
        while pgrep -f "cargo install tansu" >/dev/null 2>&1; do sleep 5; done
    fi
    if ! TANSU="$(find_tansu)" || tansu_features_missing; then
        command -v cargo >/dev/null 2>&1 ||
            die "cargo not found; install the Rust toolchain (rustup) first"
        log "installing tansu $TANSU_VERSION with $TANSU_FEATURES from crates.io (takes about 20 minutes on 2 cores)"
        # --locked: the build breaks with newer dependency versions. --force: replaces an
        # install without a needed feature.
        (cd "$REPO" && cargo install tansu --version "$TANSU_VERSION" --locked --force \
            --features "$TANSU_FEATURES") || die "cargo install tansu failed"
        TANSU="$(find_tansu)" || die "installed tansu does not report version $TANSU_VERSION"
    fi
    log "Tansu: $TANSU_VERSION ($TANSU)"
}

kafka_url() { printf 'tcp://%s:%s' "$KAFKA_HOST" "$KAFKA_PORT"; }

start_tansu() {
    local pid url
    url="$(kafka_url)"
    if pid="$(pidfile_pid tansu tansu)"; then
        log "Tansu already runs (pid $pid); reusing it"
    elif port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
        # Not started by these scripts (or its pid file is gone): reuse it when it answers as a
        # broker, since the topics are (re)created below anyway.
        if "$TANSU" topic list --broker "$url" >/dev/null 2>&1; then
            warn "a broker not started by these scripts answers on $url; reusing it (down.sh will not stop it)"
            return 0
        fi
        die "port $KAFKA_HOST:$KAFKA_PORT is taken by a program that is not a Kafka broker; stop it or set BENEFIT_KAFKA_PORT"
    else
        log "starting Tansu on $url (memory storage)"
        # Started from .local so the dotenv lookup of tansu does not pick up a .env of the
        # caller's working directory. Advertise 127.0.0.1, not localhost: clients would
        # otherwise try ::1 first.
        pid="$(cd "$LOCAL_DIR" && start_background tansu "$TANSU" broker \
            --listener-url "$url" \
            --advertised-listener-url "$url" \
            --storage-engine memory://tansu/)"
    fi
    if ! wait_port "$KAFKA_HOST" "$KAFKA_PORT" 30 "$pid" ||
        ! "$TANSU" topic list --broker "$url" >/dev/null 2>&1; then
        show_log_tail "$LOG_DIR/tansu.log"
        die "Tansu (pid $pid) does not answer on $url (started with another BENEFIT_KAFKA_PORT? run down.sh first)"
    fi
}

# Prints "name partitions" for every topic: each line of topics.txt and its dead-letter topic.
topic_list() {
    local name parts rest
    while read -r name parts rest; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        [[ -z "$rest" ]] || die "topics.txt: unexpected text after '$name $parts'"
        parts="${parts:-$PARTITIONS}"
        [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "topics.txt: bad partition count '$parts' for $name"
        printf '%s %s\n' "$name" "$parts"
        printf '%s.dlq %s\n' "$name" "$parts"
    done <"$DEPLOY_DIR/topics.txt"
}

# Names of the topics the broker has (`tansu topic list` prints them as JSON).
existing_topics() {
    "$TANSU" topic list --broker "$(kafka_url)" 2>/dev/null |
        grep -o '"name":"[^"]*"' | cut -d'"' -f4 || true
}

create_topics() {
    local url existing name parts out created=0 total=0
    url="$(kafka_url)"
    existing="$(existing_topics)"
    while read -r name parts; do
        total=$((total + 1))
        grep -qxF "$name" <<<"$existing" && continue
        # The broker answers "already exists" when another run created it meanwhile; fine.
        if out="$("$TANSU" topic create "$name" --partitions "$parts" --broker "$url" 2>&1)"; then
            created=$((created + 1))
        elif ! grep -qi 'already exists' <<<"$out"; then
            printf '%s\n' "$out" >&2
            die "could not create topic $name"
        fi
    done < <(topic_list)
    # Check rather than trust: every topic must now be listed by the broker.
    existing="$(existing_topics)"
    while read -r name parts; do
        grep -qxF "$name" <<<"$existing" || die "topic $name is missing after creation"
    done < <(topic_list)
    log "topics: $total present ($created created now)"
}

# ---------------------------------------------------------------------------------------------
# Everything the services and the tests need, started or reused. One caller at a time: up.sh
# and test.sh run in parallel must not both initialise the data directory.

# What the tests use beyond PostgreSQL and the broker, from the distribution: headless Chromium
# and its WebDriver for the kiosk page, pdftoppm to render notices, xmllint to validate
# ISO 20022 files against their XSDs, and a font with Vietnamese glyphs for the browser.
ensure_test_tools() {
    local missing=()
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
    command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
    [[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
    if ((${#missing[@]})); then
        log "installing test tools from the distribution: ${missing[*]}"
        apt_install "${missing[@]}"
    fi
    log "test tools: $(chromium --version 2>/dev/null || echo 'chromium ?'); $(pdftoppm -v 2>&1 | head -n 1); $(xmllint --version 2>&1 | head -n 1)"
}

# Databases of earlier test runs: a passing test drops its own, a failing one keeps it for
# inspection until the next run starts.
drop_test_databases() {
    local name
    for name in $(pg_psql -d postgres -At -c "SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'"); do
        pg_psql -d postgres -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
    done
}

infra_up() {
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/infra.lock"
    flock 9
    ensure_postgres_installed
    ensure_tansu
    start_postgres
    provision
    start_tansu
    create_topics
    flock -u 9
    exec 9>&-
}

# ---------------------------------------------------------------------------------------------
# Services

profile_dir() {
    case "${BENEFIT_PROFILE:-debug}" in
    debug | dev) printf 'debug' ;;
    *) printf '%s' "${BENEFIT_PROFILE}" ;;
    esac
}

cargo_profile_args() {
    case "${BENEFIT_PROFILE:-debug}" in
    debug | dev) ;;
    release) printf '%s\n' --release ;;
    *) printf '%s\n' --profile "$BENEFIT_PROFILE" ;;
    esac
}

stop_services() {
    local entry name
    stop_pidfile bank-simulator bank-simulator 10
    for entry in "${SERVICES[@]}"; do
        name="${entry%%:*}"
        stop_pidfile "$name" "$name" 30
    done
}

# config_env NAME: the NAME_CONFIG=FILE assignment that points a program at its local-stack
# configuration file deploy/local/NAME.toml (the programs read <NAME>_CONFIG, uppercased with
# dashes as underscores); a harmless assignment when there is no such file.
config_env() {
    local name="$1" variable file
    variable="$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')_CONFIG"
    file="$DEPLOY_DIR/$name.toml"
    if [[ -f "$file" ]]; then
        printf '%s=%s' "$variable" "$file"
    else
        printf 'BENEFIT_NO_CONFIG_FOR=%s' "$name"
    fi
}

# start_simulator: the bank simulator, which answers every bank's instructions on Kafka. It
# serves no health endpoint; it counts as up when it is still running a moment after start.
start_simulator() {
    local bin pid
    bin="$REPO/target/$(profile_dir)/bank-simulator"
    [[ -x "$bin" ]] || die "$bin not found; did cargo build --bins build it?"
    log "starting bank-simulator"
    pid="$(cd "$REPO" && start_background bank-simulator env "$(config_env bank-simulator)" "$bin")"
    sleep 1
    if ! kill -0 "$pid" 2>/dev/null; then
        show_log_tail "$LOG_DIR/bank-simulator.log"
        die "bank-simulator exited at start"
    fi
    log "bank-simulator is running"
}

# seed_demo: imports the contribution histories of a small synthetic population (fixed seed)
# through the eligibility service's real import path, once per data directory.
seed_demo() {
    local marker="$LOCAL_DIR/demo/.imported" bin_dir
    bin_dir="$REPO/target/$(profile_dir)"
    pg_psql -d benefit -f "$DEPLOY_DIR/demo-kiosk.sql" >/dev/null ||
        die "registering the development kiosk failed (deploy/local/demo-kiosk.sql)"
    if [[ -f "$marker" ]]; then
        log "demo data already imported (.local/demo)"
        return
    fi
    log "generating 200 synthetic people (.local/demo) and importing their contributions"
    "$bin_dir/population" --people 200 --seed 2026 --out "$LOCAL_DIR/demo" ||
        die "population generator failed"
    "$bin_dir/eligibility" import "$LOCAL_DIR/demo/contributions.csv" --header ||
        die "demo contribution import failed"
    touch "$marker"
}

# start_service NAME GRPC_PORT METRICS_PORT: migrates, starts, waits for /health.
start_service() {
    local name="$1" grpc="$2" metrics="$3" bin pid deadline port
    bin="$REPO/target/$(profile_dir)/$name"
    [[ -x "$bin" ]] || die "$bin not found; did cargo build --bins build it?"
    # A leftover instance started by hand would answer the health check in place of this one.
    for port in "$grpc" "$metrics"; do
        if port_open 127.0.0.1 "$port"; then
            die "port 127.0.0.1:$port of $name is taken by another program; stop it first"
        fi
    done
    mkdir -p "$LOG_DIR"
    log "migrating $name"
    if ! (cd "$REPO" && env "$(config_env "$name")" "$bin" migrate) >>"$LOG_DIR/$name.log" 2>&1; then
        show_log_tail "$LOG_DIR/$name.log"
        die "$name migrate failed"
    fi
    log "starting $name"
    pid="$(cd "$REPO" && start_background "$name" env "$(config_env "$name")" "$bin")"
    deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$metrics/health" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail "$LOG_DIR/$name.log"
            die "$name exited before it became healthy"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail "$LOG_DIR/$name.log"
            die "$name not healthy after 60s (http://127.0.0.1:$metrics/health)"
        fi
        sleep 0.5
    done
    log "$name is healthy"
}

print_summary() {
    local entry name grpc metrics pid with_services="$1"
    printf '\n%-12s %-18s %-36s %-8s %s\n' WHAT ADDRESS "METRICS / HEALTH" PID LOG
    printf '%-12s %-18s %-36s %-8s %s\n' postgresql "$PG_HOST:$PG_PORT" "-" "$(pg_pid)" \
        "${PG_LOG#"$REPO"/}"
    pid="$(pidfile_pid tansu tansu || echo '-')"
    printf '%-12s %-18s %-36s %-8s %s\n' tansu "$KAFKA_HOST:$KAFKA_PORT" "-" "$pid" \
        ".local/log/tansu.log"
    if [[ "$with_services" == 1 ]]; then
        for entry in "${SERVICES[@]}"; do
            IFS=: read -r name grpc metrics <<<"$entry"
            pid="$(pidfile_pid "$name" "$name" || echo '-')"
            printf '%-12s %-18s %-36s %-8s %s\n' "$name" "127.0.0.1:$grpc" \
                "http://127.0.0.1:$metrics/metrics" "$pid" ".local/log/$name.log"
        done
        printf '%-12s %-18s %-36s %-8s %s\n' kiosk-page "127.0.0.1:8052" "http://127.0.0.1:8052/ (the page)" \
            "$(pidfile_pid checkin checkin || echo '-')" ".local/log/checkin.log"
        pid="$(pidfile_pid bank-simulator bank-simulator || echo '-')"
        printf '%-12s %-18s %-36s %-8s %s\n' bank-sim "127.0.0.1:50059" \
            "http://127.0.0.1:9109/metrics" "$pid" \
            ".local/log/bank-simulator.log"
    fi
    printf '\nDatabase: postgres://<service>:<service>@%s:%s/benefit (admin: postgres/postgres)\n' \
        "$PG_HOST" "$PG_PORT"
    printf 'Logs and data: %s\n' "$LOCAL_DIR"
    if [[ -L "$PG_DATA" ]]; then
        printf 'PostgreSQL files: %s (the postgres user cannot reach .local)\n' \
            "$(dirname "$(readlink -f "$PG_DATA")")"
    fi
    printf 'Stop everything: deploy/local/down.sh   (add --wipe to delete %s too)\n\n' ".local"
}
