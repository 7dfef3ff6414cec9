# shellcheck shell=bash
# Local services for tests, the demo and benchmarks: PostgreSQL 15 and the tansu Kafka broker,
# run as plain processes (no containers). Sourced by scripts/test.sh, scripts/demo.sh and
# scripts/bench.sh; it defines functions only and changes nothing when sourced.
#
#   ensure_deps                        install what a fresh Debian 12 machine lacks (root for apt)
#   ensure_bench_deps                  the part of ensure_deps scripts/bench.sh needs (no SQLite-store broker, no fastavro)
#   start_postgres NAME PORT [K=V...]  PostgreSQL 15 on 127.0.0.1:PORT, data in $TRIBUTARY_RUN/pg-NAME
#   stop_postgres NAME
#   pg_psql NAME [psql args...]        psql as the postgres superuser over the cluster's socket
#   start_tansu PORT / stop_tansu [PORT]
#   stop_all                           stops everything this shell started (for traps)
#   install_cleanup_trap               stop_all on exit, Ctrl-C and SIGTERM, keeping the exit status
#
# Environment (all optional):
#   TRIBUTARY_CACHE     tool cache outside the clone (tansu lands in $TRIBUTARY_CACHE/bin)
#   TRIBUTARY_RUN       run directory for data dirs, sockets, pid and log files
#   TRIBUTARY_PG_BIN    PostgreSQL server binaries
#   TRIBUTARY_PG_FRESH  1: start_postgres wipes the cluster and runs initdb again
#   TRIBUTARY_WAIT_SECS how long a service may take to come up (default 60)
#   TRIBUTARY_TANSU_BIN tansu binary to use instead of $TRIBUTARY_CACHE/bin/tansu
#   TRIBUTARY_TANSU_SQL_BIN tansu built with the SQLite store (SASL tests), instead of
#                       $TRIBUTARY_CACHE/tansu-sql/bin/tansu
#   TRIBUTARY_TANSU_PORT port stop_tansu stops when called without one (default 19092)
#
# Roles in every cluster (password auth over TCP, scram-sha-256; trust over the Unix socket):
#   tributary/tributary        superuser
#   tributary_repl/tributary   LOGIN REPLICATION, not a superuser (privilege tests)
#   tributary_plain/tributary  LOGIN only (no replication)

TRIBUTARY_CACHE=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
TRIBUTARY_RUN=${TRIBUTARY_RUN:-/tmp/tributary-run}
TRIBUTARY_PG_BIN=${TRIBUTARY_PG_BIN:-/usr/lib/postgresql/15/bin}
TRIBUTARY_WAIT_SECS=${TRIBUTARY_WAIT_SECS:-60}
TRIBUTARY_TANSU_VERSION=0.6.0

# What this shell started, in order: "pg:NAME" or "tansu:PORT".
_TRIBUTARY_STARTED=()

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as the postgres OS user when we are root (the server refuses to run as root).
_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

_check_port() {
  case "$1" in
    '' | *[!0-9]*) die "port '$1' is not a number" ;;
  esac
}

# _wait_until SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds; fails after SECONDS.
_wait_until() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

_register() {
  local item
  for item in "${_TRIBUTARY_STARTED[@]}"; do
    [ "$item" = "$1" ] && return 0
  done
  _TRIBUTARY_STARTED+=("$1")
}

_unregister() {
  local kept=() item
  for item in "${_TRIBUTARY_STARTED[@]}"; do
    [ "$item" = "$1" ] || kept+=("$item")
  done
  _TRIBUTARY_STARTED=("${kept[@]}")
}

# ---------------------------------------------------------------------------------------------
# Dependencies

# Cargo on PATH: from ~/.cargo/env, else (as root on a fresh machine) installed with rustup; and a
# rustc at least as new as Cargo.toml's rust-version (updated through rustup where it manages it).
_ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "cargo not found: install the Rust toolchain with rustup (https://rustup.rs)"
    ensure_apt_packages curl ca-certificates
    local rustup_log="$TRIBUTARY_CACHE/rustup.log"
    mkdir -p "$TRIBUTARY_CACHE"
    log "installing the Rust toolchain with rustup (log $rustup_log)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal >"$rustup_log" 2>&1 ||
      die "installing Rust with rustup failed; see $rustup_log, or install it yourself (https://rustup.rs)"
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  local need have
  need=$(sed -nE 's/^rust-version = "([0-9.]+)"/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../../Cargo.toml")
  have=$(rustc --version | awk '{ print $2 }')
  if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
    command -v rustup >/dev/null 2>&1 ||
      die "rustc $have is older than the $need this package needs: update the Rust toolchain"
    log "rustc $have is older than $need: rustup update stable"
    rustup update stable >/dev/null 2>&1 || die "rustup update stable failed: update the Rust toolchain to $need or later"
  fi
}

_pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

_ensure_apt_packages() {
  # postgresql-15 carries the server and contrib modules (pgoutput is built in); the client
  # package has psql and pg_recvlogical. build-essential, pkg-config, libssl-dev and zlib1g-dev
  # build rdkafka's bundled librdkafka (features tokio, libz, ssl, zstd; zstd is vendored, no
  # cmake, no SASL/GSSAPI). protobuf-compiler is there for .proto builds; `time` measures RSS;
  # openssl makes the test server's TLS certificate; PostGIS is for the type tests.
  local wanted=(postgresql-15 postgresql-client-15 build-essential pkg-config libssl-dev
    zlib1g-dev protobuf-compiler time ca-certificates openssl postgresql-15-postgis-3)
  command -v python3 >/dev/null 2>&1 || wanted+=(python3)
  ensure_apt_packages "${wanted[@]}"
}

# ensure_apt_packages PKG...: installs the Debian packages among PKG that are missing (root only;
# otherwise a one-line error naming them).
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    _pkg_installed "$pkg" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}): run as root or install them with apt-get"
  local apt_log="$TRIBUTARY_CACHE/apt.log"
  mkdir -p "$TRIBUTARY_CACHE"
  log "installing Debian packages: ${missing[*]} (log $apt_log)"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >"$apt_log" 2>&1 ||
    die "apt-get update failed; see $apt_log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >>"$apt_log" 2>&1 || die "apt-get install ${missing[*]} failed; see $apt_log"
}

_ensure_rust_components() {
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    log "adding rustup components rustfmt and clippy"
    rustup component add rustfmt clippy >/dev/null || die "rustup component add rustfmt clippy failed"
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest (a few minutes)"
    cargo install cargo-nextest --locked --quiet || die "cargo install cargo-nextest failed"
  fi
}

# Python's fastavro: the DTS Avro tests decode messages with its schemaless_reader, as DTS's
# Python consumer demo does. Best effort: without it (no network, no pip) that test says it
# was skipped and why.
_ensure_fastavro() {
  command -v python3 >/dev/null 2>&1 || return 0
  python3 -c 'import fastavro' >/dev/null 2>&1 && return 0
  log "installing Python's fastavro with pip (for the DTS Avro reader test)"
  python3 -m pip install --quiet fastavro >/dev/null 2>&1 ||
    python3 -m pip install --quiet --break-system-packages fastavro >/dev/null 2>&1 ||
    python3 -m pip install --quiet --user --break-system-packages fastavro >/dev/null 2>&1 ||
    warn "could not install fastavro with pip: the fastavro reader test will be skipped"
}

_tansu_ok() {
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qF "$TRIBUTARY_TANSU_VERSION"
}

# Path of the tansu binary this project uses.
tansu_bin() {
  printf '%s\n' "${TRIBUTARY_TANSU_BIN:-$TRIBUTARY_CACHE/bin/tansu}"
}

_ensure_tansu() {
  local bin
  bin=$(tansu_bin)
  _tansu_ok "$bin" && return 0
  mkdir -p "$TRIBUTARY_CACHE/bin"
  # One build at a time, even when two scripts start together.
  exec 9>"$TRIBUTARY_CACHE/tansu.lock"
  flock -w 3600 9 || die "timed out waiting for another tansu install (lock $TRIBUTARY_CACHE/tansu.lock)"
  if ! _tansu_ok "$bin"; then
    if _tansu_ok "$HOME/.cargo/bin/tansu"; then
      log "copying tansu $TRIBUTARY_TANSU_VERSION from ~/.cargo/bin into $TRIBUTARY_CACHE/bin"
      cp -f "$HOME/.cargo/bin/tansu" "$bin.tmp" && mv -f "$bin.tmp" "$bin"
    else
      local install_log="$TRIBUTARY_CACHE/tansu-install.log"
      log "building tansu $TRIBUTARY_TANSU_VERSION into $TRIBUTARY_CACHE (about 10 minutes on 2 cores; log $install_log)"
      timeout 3600 cargo install tansu --locked --version "$TRIBUTARY_TANSU_VERSION" \
        --features dynostore --root "$TRIBUTARY_CACHE" >"$install_log" 2>&1 ||
        die "cargo install tansu failed; see $install_log"
    fi
  fi
  flock -u 9
  exec 9>&-
  _tansu_ok "$bin" || die "$bin does not report version $TRIBUTARY_TANSU_VERSION"
}

# Path of the tansu build with the SQLite store (feature `libsql`): the only store of tansu 0.6
# that keeps SCRAM users, so the SASL tests (tests/kafka_security.rs) need it.
tansu_sql_bin() {
  printf '%s\n' "${TRIBUTARY_TANSU_SQL_BIN:-$TRIBUTARY_CACHE/tansu-sql/bin/tansu}"
}

_ensure_tansu_sql() {
  local bin
  bin=$(tansu_sql_bin)
  _tansu_ok "$bin" && return 0
  mkdir -p "$TRIBUTARY_CACHE"
  exec 9>"$TRIBUTARY_CACHE/tansu-sql.lock"
  flock -w 3600 9 || die "timed out waiting for another tansu install (lock $TRIBUTARY_CACHE/tansu-sql.lock)"
  if ! _tansu_ok "$bin"; then
    local install_log="$TRIBUTARY_CACHE/tansu-sql-install.log"
    log "building tansu $TRIBUTARY_TANSU_VERSION with the SQLite store into $TRIBUTARY_CACHE/tansu-sql (10-30 minutes on 2 cores; log $install_log)"
    timeout 3600 cargo install tansu --locked --version "$TRIBUTARY_TANSU_VERSION" \
      --features dynostore,libsql --root "$TRIBUTARY_CACHE/tansu-sql" >"$install_log" 2>&1 ||
      die "cargo install tansu --features dynostore,libsql failed; see $install_log"
  fi
  flock -u 9
  exec 9>&-
  _tansu_ok "$bin" || die "$bin does not report version $TRIBUTARY_TANSU_VERSION"
}

ensure_deps() {
  ensure_bench_deps
  _ensure_tansu_sql
  _ensure_fastavro
}

# What scripts/bench.sh needs: the toolchain, PostgreSQL and the memory-store broker (not the
# SQLite-store broker or fastavro, which only tests use).
ensure_bench_deps() {
  _ensure_cargo
  _ensure_apt_packages
  [ -x "$TRIBUTARY_PG_BIN/initdb" ] || die "PostgreSQL server binaries not found in $TRIBUTARY_PG_BIN"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "the postgres OS user does not exist (it comes with postgresql-common)"
  fi
  _ensure_rust_components
  _ensure_tansu
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_dir() {
  case "$1" in
    '' | *[!A-Za-z0-9_-]*) die "cluster name '$1' must be letters, digits, '-' or '_'" ;;
  esac
  printf '%s/pg-%s\n' "$TRIBUTARY_RUN" "$1"
}

# _pg_bin DIR: the server binaries of the cluster in DIR (recorded at its start: IvorySQL
# clusters run their own build), else $TRIBUTARY_PG_BIN.
_pg_bin() {
  if [ -f "$1/bindir" ]; then cat "$1/bindir"; else printf '%s\n' "$TRIBUTARY_PG_BIN"; fi
}

_pg_running() {
  [ -f "$1/PG_VERSION" ] && _as_pg "$(_pg_bin "${1%/data}")/pg_ctl" status -D "$1" >/dev/null 2>&1
}

_pg_ready() {
  "$TRIBUTARY_PG_BIN/pg_isready" -q -h "$1" -p "$2" -U postgres -d postgres
}

# pg_psql NAME [psql args...]: psql as the postgres superuser over the cluster's Unix socket.
pg_psql() {
  local dir
  dir=$(pg_dir "$1")
  shift
  [ -f "$dir/port" ] || die "no PostgreSQL cluster named '${dir##*/pg-}' was started"
  psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")" -U postgres "$@"
}

# make_tls_cert DIR: a self-signed server certificate for 127.0.0.1/localhost in DIR (once),
# readable by the postgres user; prints the settings that turn TLS on.
make_tls_cert() {
  local dir=$1
  mkdir -p "$dir"
  if [ ! -f "$dir/server.crt" ]; then
    openssl req -new -x509 -days 3650 -nodes -subj /CN=localhost \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1 || die "could not make a TLS certificate in $dir"
  fi
  chmod 600 "$dir/server.key"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dir"; fi
  chmod 755 "$dir"
  chmod 644 "$dir/server.crt"
  printf 'ssl=on ssl_cert_file=%s ssl_key_file=%s' "$dir/server.crt" "$dir/server.key"
}

# start_postgres NAME PORT [SETTING...]: SETTING is `key=value`, optionally after `-c`.
# TRIBUTARY_PG_INITDB_ARGS adds initdb arguments (start_ivorysql passes `-m oracle`).
start_postgres() {
  [ "$#" -ge 2 ] || die "usage: start_postgres NAME PORT [-c key=value ...]"
  local name=$1 port=$2
  shift 2
  _check_port "$port"
  local dir data logf
  dir=$(pg_dir "$name")
  data="$dir/data"
  logf="$dir/postgres.log"

  local settings=(listen_addresses=127.0.0.1 "port=$port" "unix_socket_directories=$dir"
    wal_level=logical max_replication_slots=20 max_wal_senders=20 wal_sender_timeout=10s)
  local arg
  for arg in "$@"; do
    [ "$arg" = "-c" ] && continue
    case "$arg" in
      *=*) settings+=("$arg") ;;
      *) die "start_postgres $name: setting '$arg' is not key=value" ;;
    esac
  done
  # pg_ctl hands -o to /bin/sh: quote every setting.
  local opts="" setting
  for setting in "${settings[@]}"; do
    opts+=" -c $(printf '%q' "$setting")"
  done
  opts=${opts# }

  if [ "${TRIBUTARY_PG_FRESH:-0}" = 1 ] && [ -d "$dir" ]; then
    if _pg_running "$data"; then stop_postgres "$name" || die "could not stop postgres $name"; fi
    rm -rf "$dir"
  fi
  if _pg_running "$data"; then
    if [ "$(cat "$dir/opts" 2>/dev/null)" = "$opts" ]; then
      log "postgres $name already running on 127.0.0.1:$port"
      _register "pg:$name"
      return 0
    fi
    log "postgres $name runs with other settings: restarting it"
    stop_postgres "$name" || die "could not stop postgres $name"
  fi
  _port_open "$port" && die "port $port is already in use by another process (postgres $name cannot listen there)"

  mkdir -p "$TRIBUTARY_RUN" "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initdb postgres $name in $data"
    rm -rf "$data"
    # shellcheck disable=SC2086 # TRIBUTARY_PG_INITDB_ARGS is a list of words
    _as_pg "$TRIBUTARY_PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-instructions \
      ${TRIBUTARY_PG_INITDB_ARGS:-} >"$dir/initdb.log" 2>&1 ||
      die "initdb for postgres $name failed; see $dir/initdb.log"
  fi

  log "starting postgres $name on 127.0.0.1:$port (log $logf)"
  printf '%s\n' "$opts" >"$dir/opts"
  printf '%s\n' "$port" >"$dir/port"
  printf '%s\n' "$TRIBUTARY_PG_BIN" >"$dir/bindir"
  if ! _as_pg "$TRIBUTARY_PG_BIN/pg_ctl" start -D "$data" -l "$logf" -w -t "$TRIBUTARY_WAIT_SECS" \
    -o "$opts" >/dev/null 2>&1; then
    tail -n 5 "$logf" >&2 2>/dev/null || true
    die "postgres $name did not start within ${TRIBUTARY_WAIT_SECS}s; see $logf"
  fi
  _register "pg:$name"
  _wait_until "$TRIBUTARY_WAIT_SECS" _pg_ready "$dir" "$port" ||
    die "postgres $name is not accepting connections after ${TRIBUTARY_WAIT_SECS}s; see $logf"

  pg_psql "$name" -d postgres <<'SQL' >/dev/null || die "could not create the test roles in postgres $name"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tributary') THEN
    CREATE ROLE tributary LOGIN SUPERUSER PASSWORD 'tributary';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tributary_repl') THEN
    CREATE ROLE tributary_repl LOGIN REPLICATION PASSWORD 'tributary';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tributary_plain') THEN
    CREATE ROLE tributary_plain LOGIN PASSWORD 'tributary';
  END IF;
END
$$;
SQL
}

stop_postgres() {
  [ "$#" -eq 1 ] || die "usage: stop_postgres NAME"
  local dir data
  dir=$(pg_dir "$1")
  data="$dir/data"
  _unregister "pg:$1"
  _pg_running "$data" || return 0
  log "stopping postgres $1"
  local bin
  bin=$(_pg_bin "$dir")
  _as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1 && return 0
  warn "postgres $1 did not stop within 30s: stopping it immediately"
  _as_pg "$bin/pg_ctl" stop -D "$data" -m immediate -w -t 30 >/dev/null 2>&1 && return 0
  warn "could not stop postgres $1 (data $data)"
  return 1
}

# ---------------------------------------------------------------------------------------------
# tansu (Kafka protocol broker, memory storage: every start is an empty broker)

_tansu_pid() {
  local pidf="$TRIBUTARY_RUN/tansu-$1.pid" pid
  [ -f "$pidf" ] || return 1
  pid=$(cat "$pidf")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'tansu broker' || return 1
  printf '%s\n' "$pid"
}

_pid_alive() { kill -0 "$1" 2>/dev/null; }
_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

start_tansu() {
  [ "$#" -eq 1 ] || die "usage: start_tansu PORT"
  local port=$1
  _check_port "$port"
  local bin pidf logf pid
  bin=$(tansu_bin)
  [ -x "$bin" ] || die "tansu not found at $bin (run ensure_deps)"
  pidf="$TRIBUTARY_RUN/tansu-$port.pid"
  logf="$TRIBUTARY_RUN/tansu-$port.log"
  mkdir -p "$TRIBUTARY_RUN"
  # A broker left over from an earlier run of ours: replace it, so every start is empty.
  if _tansu_pid "$port" >/dev/null; then stop_tansu "$port" || die "could not stop the old tansu on port $port"; fi
  _port_open "$port" && die "port $port is already in use by another process (tansu cannot listen there)"

  log "starting tansu on 127.0.0.1:$port (log $logf)"
  setsid "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    </dev/null >"$logf" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$pidf"
  _register "tansu:$port"
  if ! _wait_until "$TRIBUTARY_WAIT_SECS" _port_open "$port" || ! _pid_alive "$pid"; then
    tail -n 5 "$logf" >&2 2>/dev/null || true
    die "tansu did not accept connections on port $port within ${TRIBUTARY_WAIT_SECS}s; see $logf"
  fi
}

stop_tansu() {
  local port=${1:-${TRIBUTARY_TANSU_PORT:-19092}} pid
  _unregister "tansu:$port"
  pid=$(_tansu_pid "$port") || {
    rm -f "$TRIBUTARY_RUN/tansu-$port.pid"
    return 0
  }
  log "stopping tansu on port $port"
  kill -TERM "$pid" 2>/dev/null || true
  if ! _wait_until 10 _pid_gone "$pid"; then
    warn "tansu (pid $pid) ignored SIGTERM for 10s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    _wait_until 5 _pid_gone "$pid" || {
      warn "could not stop tansu (pid $pid)"
      return 1
    }
  fi
  rm -f "$TRIBUTARY_RUN/tansu-$port.pid"
}

# ---------------------------------------------------------------------------------------------
# IvorySQL (Oracle-compatible PostgreSQL, built from source): ensure_ivorysql, start_ivorysql

# shellcheck source=scripts/lib/ivorysql.sh
. "$(dirname "${BASH_SOURCE[0]}")/ivorysql.sh"

# ---------------------------------------------------------------------------------------------
# Cleanup

# Stops what this shell started, newest first; never fails, so traps run to the end.
stop_all() {
  local i item
  for ((i = ${#_TRIBUTARY_STARTED[@]} - 1; i >= 0; i--)); do
    item=${_TRIBUTARY_STARTED[i]}
    case "$item" in
      pg:*) stop_postgres "${item#pg:}" || true ;;
      tansu:*) stop_tansu "${item#tansu:}" || true ;;
    esac
  done
  _TRIBUTARY_STARTED=()
}

# Calls stop_all (and the optional CLEANUP_HOOK function first) when the script exits for any
# reason, keeping its exit status; Ctrl-C exits 130 and SIGTERM 143.
install_cleanup_trap() {
  trap '_tributary_on_exit' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

_tributary_on_exit() {
  local rc=$?
  trap - INT TERM
  if [ -n "${CLEANUP_HOOK:-}" ]; then "$CLEANUP_HOOK" || true; fi
  stop_all
  exit "$rc"
}
