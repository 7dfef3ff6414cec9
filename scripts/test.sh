#!/usr/bin/env bash
# Runs the whole check against real local services:
#   cargo fmt --check, cargo clippy -D warnings (without features, with `failpoints`, with `oracle`),
#   then every test (unit + integration, built with `--features failpoints` so fault-injection
#   tests run) with cargo nextest (profile `ci`, .config/nextest.toml) or cargo test when
#   nextest is missing,
#   plus the doc tests, against PostgreSQL 15 (wal_level=logical and wal_level=replica), IvorySQL
#   (Oracle-compatible PostgreSQL, built once into $TRIBUTARY_CACHE) and tansu.
# Arguments go to the test runner (e.g. `scripts/test.sh pg_to_kafka`); with arguments the doc
# tests are skipped. Services are stopped on exit, also on failure and Ctrl-C. The exit status is
# the tests' status; when the tests pass but fmt or clippy failed, it is 1.
#
# Environment: TRIBUTARY_TEST_PG_PORT (54321), TRIBUTARY_TEST_PG_REPLICA_PORT (54322),
# TRIBUTARY_TEST_TANSU_PORT (19092), TRIBUTARY_TEST_IVORY_PORT (54331, PostgreSQL mode),
# TRIBUTARY_TEST_IVORY_ORA_PORT (54332, Oracle mode), TRIBUTARY_IVORYSQL_SOURCE (see
# scripts/lib/ivorysql.sh), TRIBUTARY_RUN (/tmp/tributary-run), TRIBUTARY_CACHE,
# TRIBUTARY_SKIP_LINT=1 skips fmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

pg_port=${TRIBUTARY_TEST_PG_PORT:-54321}
pg_replica_port=${TRIBUTARY_TEST_PG_REPLICA_PORT:-54322}
tansu_port=${TRIBUTARY_TEST_TANSU_PORT:-19092}
ivory_port=${TRIBUTARY_TEST_IVORY_PORT:-54331}
ivory_ora_port=${TRIBUTARY_TEST_IVORY_ORA_PORT:-54332}

step() { printf '\n=== %s\n' "$*" >&2; }

install_cleanup_trap

step "dependencies"
ensure_deps
ensure_ivorysql

lint_failed=()
if [ "${TRIBUTARY_SKIP_LINT:-0}" != 1 ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check || lint_failed+=("cargo fmt --check")
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --all-targets -- -D warnings || lint_failed+=("cargo clippy")
  step "cargo clippy --all-targets --features failpoints -- -D warnings"
  cargo clippy --all-targets --features failpoints -- -D warnings ||
    lint_failed+=("cargo clippy --features failpoints")
  # Builds the Oracle source's real session on Oracle's thin driver (no database needed).
  step "cargo clippy --all-targets --features oracle -- -D warnings"
  cargo clippy --all-targets --features oracle -- -D warnings ||
    lint_failed+=("cargo clippy --features oracle")
fi

# Test clusters start empty every run: slots left by a failed run must not pile up. fsync is off
# because no test crashes PostgreSQL itself.
fast=(fsync=off synchronous_commit=off full_page_writes=off)
# Room for the slots of the tests running at once, and of failed tests that left theirs.
fast+=(max_replication_slots=64 max_wal_senders=64)
step "services"
# The logical server also accepts TLS (tests/tls.rs); its CA is the self-signed certificate.
tls_dir="$TRIBUTARY_RUN/tls"
read -r -a tls <<<"$(make_tls_cert "$tls_dir")"
TRIBUTARY_PG_FRESH=1 start_postgres test-logical "$pg_port" "${fast[@]}" "${tls[@]}"
TRIBUTARY_PG_FRESH=1 start_postgres test-replica "$pg_replica_port" wal_level=replica "${fast[@]}"
TRIBUTARY_PG_FRESH=1 start_ivorysql test-ivory "$ivory_port" "$ivory_ora_port" "${fast[@]}"
start_tansu "$tansu_port"

export TRIBUTARY_TEST_PG_URL="postgres://tributary:tributary@127.0.0.1:$pg_port/postgres"
export TRIBUTARY_TEST_PG_REPLICA_URL="postgres://tributary:tributary@127.0.0.1:$pg_replica_port/postgres"
export TRIBUTARY_TEST_KAFKA="127.0.0.1:$tansu_port"
export TRIBUTARY_TEST_PG_CA="$tls_dir/server.crt"
export TRIBUTARY_TEST_IVORY_URL="postgres://tributary:tributary@127.0.0.1:$ivory_port/postgres"
export TRIBUTARY_TEST_IVORY_ORA_URL="postgres://tributary:tributary@127.0.0.1:$ivory_ora_port/postgres"
TRIBUTARY_TEST_TANSU=$(tansu_bin)
export TRIBUTARY_TEST_TANSU
TRIBUTARY_TEST_TANSU_SQL=$(tansu_sql_bin)
export TRIBUTARY_TEST_TANSU_SQL
printf 'TRIBUTARY_TEST_PG_URL=%s\nTRIBUTARY_TEST_PG_REPLICA_URL=%s\nTRIBUTARY_TEST_KAFKA=%s\nTRIBUTARY_TEST_TANSU=%s\nTRIBUTARY_TEST_TANSU_SQL=%s\nTRIBUTARY_TEST_IVORY_URL=%s\nTRIBUTARY_TEST_IVORY_ORA_URL=%s\n' \
  "$TRIBUTARY_TEST_PG_URL" "$TRIBUTARY_TEST_PG_REPLICA_URL" "$TRIBUTARY_TEST_KAFKA" "$TRIBUTARY_TEST_TANSU" \
  "$TRIBUTARY_TEST_TANSU_SQL" "$TRIBUTARY_TEST_IVORY_URL" "$TRIBUTARY_TEST_IVORY_ORA_URL" >&2

test_status=0
# nextest does not run doc tests: they run first, so that the closing line CI reads is nextest's
# summary of every other test.
if [ "$#" -eq 0 ] && cargo nextest --version >/dev/null 2>&1; then
  step "cargo test --doc"
  cargo test --doc || test_status=$?
fi
if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest run --profile ci $*"
  nextest_status=0
  cargo nextest run --profile ci --features failpoints "$@" || nextest_status=$?
  [ "$test_status" -ne 0 ] || test_status=$nextest_status
else
  step "cargo test $* (cargo-nextest not available)"
  cargo test --features failpoints "$@" || test_status=$?
fi

step "summary"
if [ "${#lint_failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${lint_failed[@]}" >&2
fi
if [ "$test_status" -ne 0 ]; then
  printf 'tests failed (exit %s)\n' "$test_status" >&2
  exit "$test_status"
fi
printf 'tests passed\n' >&2
[ "${#lint_failed[@]}" -eq 0 ] || exit 1
