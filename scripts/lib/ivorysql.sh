# shellcheck shell=bash
# IvorySQL (PostgreSQL 18 with an Oracle compatibility mode, the open stand-in for PolarDB for
# PostgreSQL (Compatible with Oracle)): built once from source into the tool cache, then run as
# a cluster of scripts/lib/services.sh (which sources this file) listening on two ports, one per
# parser. Defines functions only.
#
#   ensure_ivorysql                         build IvorySQL into $TRIBUTARY_CACHE/ivorysql-5.4 once
#   ivorysql_bin                            prints the directory of its server binaries
#   start_ivorysql NAME PGPORT ORAPORT [K=V...]
#                                           initdb -m oracle, start with wal_level=logical:
#                                           PGPORT speaks the PostgreSQL parser, ORAPORT the Oracle
#                                           one; the roles of start_postgres; stopped by
#                                           stop_postgres NAME and stop_all
#
# Environment (all optional):
#   TRIBUTARY_IVORYSQL_SOURCE  an IvorySQL 5.4 source tarball or unpacked source directory
#                              (default: ../shared/vendor/ivorysql/IvorySQL_5.4.tar.xz beside
#                              the clone, checked against its sha256)
#   TRIBUTARY_IVORYSQL_HOME    where the build is installed (default $TRIBUTARY_CACHE/ivorysql-5.4)

TRIBUTARY_IVORYSQL_VERSION=5.4
_TRIBUTARY_IVORYSQL_SHA256=8689f5d726c1470b2a12cf51a639ace3ef9c5eb4caa611c13c32822ab98a4f92
_TRIBUTARY_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

ivorysql_home() {
  printf '%s\n' "${TRIBUTARY_IVORYSQL_HOME:-$TRIBUTARY_CACHE/ivorysql-$TRIBUTARY_IVORYSQL_VERSION}"
}

_ivorysql_default_source() {
  printf '%s\n' "$_TRIBUTARY_REPO/../shared/vendor/ivorysql/IvorySQL_$TRIBUTARY_IVORYSQL_VERSION.tar.xz"
}

# A complete build: the stamp is written after the last install step.
_ivorysql_ok() {
  [ -f "$1/.tributary-built" ] && [ -x "$1/bin/postgres" ] && [ -x "$1/bin/initdb" ]
}

ensure_ivorysql() {
  local home
  home=$(ivorysql_home)
  _ivorysql_ok "$home" && return 0
  local src=${TRIBUTARY_IVORYSQL_SOURCE:-$(_ivorysql_default_source)}
  [ -e "$src" ] || die "IvorySQL source not found at $src: set TRIBUTARY_IVORYSQL_SOURCE to an IvorySQL $TRIBUTARY_IVORYSQL_VERSION source tarball or directory"
  ensure_apt_packages build-essential bison flex libreadline-dev zlib1g-dev libssl-dev \
    libxml2-dev libicu-dev uuid-dev pkg-config xz-utils
  mkdir -p "$TRIBUTARY_CACHE"
  # One build at a time, even when two scripts start together.
  exec 9>"$TRIBUTARY_CACHE/ivorysql.lock"
  flock -w 3600 9 || die "timed out waiting for another IvorySQL build (lock $TRIBUTARY_CACHE/ivorysql.lock)"
  _ivorysql_ok "$home" || _build_ivorysql "$src" "$home"
  flock -u 9
  exec 9>&-
  _ivorysql_ok "$home" || die "the IvorySQL build in $home is incomplete: remove it and run again"
}

# _ivorysql_unpack SRC DIR: the source tree of SRC (tarball or directory) into DIR.
_ivorysql_unpack() {
  local src=$1 dir=$2
  mkdir -p "$dir"
  if [ -d "$src" ]; then
    [ -x "$src/configure" ] || die "$src has no configure script: TRIBUTARY_IVORYSQL_SOURCE must be an IvorySQL source directory or tarball"
    cp -a "$src/." "$dir/" || die "could not copy the IvorySQL source from $src"
    return 0
  fi
  if [ "$src" -ef "$(_ivorysql_default_source)" ]; then
    local sum
    sum=$(sha256sum "$src" | cut -d' ' -f1)
    [ "$sum" = "$_TRIBUTARY_IVORYSQL_SHA256" ] ||
      die "$src has sha256 $sum, not $_TRIBUTARY_IVORYSQL_SHA256: the vendored IvorySQL tarball is damaged"
  fi
  tar -xf "$src" -C "$dir" --strip-components=1 2>/dev/null ||
    die "could not unpack $src (TRIBUTARY_IVORYSQL_SOURCE must be an IvorySQL source tarball or directory)"
  [ -x "$dir/configure" ] || die "$src holds no configure script at its top folder: is it an IvorySQL source?"
}

_build_ivorysql() {
  local src=$1 home=$2
  local work="$TRIBUTARY_CACHE/ivorysql-build" logf="$TRIBUTARY_CACHE/ivorysql-build.log"
  rm -rf "$work" "$home"
  _ivorysql_unpack "$src" "$work"
  log "building IvorySQL $TRIBUTARY_IVORYSQL_VERSION from $src into $home (3-7 minutes on 2 cores; log $logf)"
  # --with-uuid: the top-level make builds contrib/uuid-ossp, which Oracle-mode initdb needs.
  if ! (cd "$work" &&
    ./configure --prefix="$home" --with-libxml --with-openssl --with-uuid=e2fs &&
    nice -n 10 make -j2 &&
    make install &&
    make -C contrib/test_decoding install) >"$logf" 2>&1; then
    rm -rf "$home"
    die "building IvorySQL failed; see $logf"
  fi
  printf 'built from %s\n' "$src" >"$home/.tributary-built"
  rm -rf "$work"
}

# ivorysql_bin: the server binaries, built when missing. The postgres OS user must reach them:
# when the cache is private (root's home), the build is copied under $TRIBUTARY_RUN once.
ivorysql_bin() {
  ensure_ivorysql
  local home
  home=$(ivorysql_home)
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$home/bin/postgres" 2>/dev/null; then
    printf '%s/bin\n' "$home"
    return 0
  fi
  local copy="$TRIBUTARY_RUN/ivorysql-$TRIBUTARY_IVORYSQL_VERSION"
  if ! cmp -s "$home/.tributary-built" "$copy/.tributary-built"; then
    log "copying IvorySQL to $copy (the postgres user cannot read $home)"
    mkdir -p "$TRIBUTARY_RUN"
    rm -rf "$copy" "$copy.tmp"
    cp -a "$home" "$copy.tmp" && chmod -R a+rX "$copy.tmp" && mv "$copy.tmp" "$copy" ||
      die "could not copy IvorySQL from $home to $copy"
  fi
  printf '%s/bin\n' "$copy"
}

start_ivorysql() {
  [ "$#" -ge 3 ] || die "usage: start_ivorysql NAME PGPORT ORAPORT [-c key=value ...]"
  local name=$1 port=$2 oraport=$3
  shift 3
  _check_port "$oraport"
  local bin dir
  bin=$(ivorysql_bin)
  dir=$(pg_dir "$name")
  if ! _pg_running "$dir/data" && _port_open "$oraport"; then
    die "port $oraport is already in use by another process (IvorySQL $name cannot take its Oracle-mode port)"
  fi
  TRIBUTARY_PG_BIN=$bin TRIBUTARY_PG_INITDB_ARGS="-m oracle" start_postgres "$name" "$port" \
    ivorysql.listen_addresses=127.0.0.1 "ivorysql.port=$oraport" "$@"
}
