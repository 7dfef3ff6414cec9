#!/usr/bin/env bash
# IvorySQL (PostgreSQL 18 with Oracle compatibility; stands in for PolarDB for PostgreSQL
# (Compatible with Oracle)) as a local source for tributary, with wal_level=logical.
#   scripts/ivorysql.sh start    builds IvorySQL 5.4 once into $TRIBUTARY_CACHE (3-7 minutes on 2
#                                cores), creates the cluster with `initdb -m oracle` on the first
#                                start, and starts it on two ports
#   scripts/ivorysql.sh status   whether it runs, and the URLs of both ports
#   scripts/ivorysql.sh stop     stops it (the data directory is kept)
# Point tributary at the PostgreSQL-mode port (TRIBUTARY_IVORY_PG_PORT); the Oracle-mode port is
# for Oracle-style SQL clients (a task pointed at it is refused with the port to use instead).
# Environment (all optional):
#   TRIBUTARY_IVORY_PG_PORT     PostgreSQL-mode port (default 54331)
#   TRIBUTARY_IVORY_ORA_PORT    Oracle-mode port (default 54332)
#   TRIBUTARY_IVORYSQL_SOURCE   an IvorySQL 5.4 source tarball or directory of your own (default:
#                               ../shared/vendor/ivorysql/IvorySQL_5.4.tar.xz beside the clone)
#   TRIBUTARY_CACHE             build cache (default ~/.cache/tributary)
#   TRIBUTARY_RUN               data, socket and log directory (default /tmp/tributary-run)
# The superuser is tributary/tributary (password auth over TCP).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

name=ivorysql
pg_port=${TRIBUTARY_IVORY_PG_PORT:-54331}
ora_port=${TRIBUTARY_IVORY_ORA_PORT:-54332}

urls() {
  printf 'PostgreSQL mode (use this one in a task): postgres://tributary:tributary@127.0.0.1:%s/postgres\n' "$pg_port"
  printf 'Oracle mode:                              postgres://tributary:tributary@127.0.0.1:%s/postgres\n' "$ora_port"
}

case ${1:-} in
  start)
    start_ivorysql "$name" "$pg_port" "$ora_port"
    urls
    ;;
  stop) stop_postgres "$name" ;;
  status)
    if _pg_running "$(pg_dir "$name")/data"; then
      printf 'IvorySQL runs (data %s)\n' "$(pg_dir "$name")/data"
      urls
    else
      printf 'IvorySQL is not running\n'
      exit 1
    fi
    ;;
  *)
    printf 'usage: %s start|stop|status\n' "$0" >&2
    exit 2
    ;;
esac
