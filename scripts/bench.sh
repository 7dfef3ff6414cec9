#!/usr/bin/env bash
# Benchmark harness. Loads `bench_wide` (N rows of typical column types) into a fresh PostgreSQL
# 15 and measures, in the same run, the physical limits a migration cannot beat here:
#   limit.copy_rows_per_s         `COPY bench_wide TO STDOUT` over TCP into /dev/null
#   limit.recvlogical_rows_per_s  pg_recvlogical (pgoutput, proto 1) draining the N inserts from a
#                                 slot created before the load, up to the load's end LSN
# Each limit also reports its seconds and the client's peak RSS (/usr/bin/time). tributary's
# snapshot and stream rates follow, the stream into the broker once per message format, and each
# format's serialisation rate on one core beside its stream rate (format.*, ratio.format_*). Figures go to
# stdout as key=value lines (and to $TRIBUTARY_RUN/results.txt); progress goes to stderr.
# Machines are shared: compare tributary's figure with the limit of the same run, as a ratio.
#
# Environment: N (rows, default 1000000), BENCH_UPDATE=1 also measures draining an UPDATE of
# every row, BENCH_TRIBUTARY=0 measures the limits only, BENCH_BIN measures another tributary
# binary (an A/B against an earlier build; default: this tree's release build), BENCH_CLUSTER=0
# skips the cluster's failover and throughput figures (tests/cluster_bench.rs),
# TRIBUTARY_BENCH_RUN (/tmp/tributary-bench), TRIBUTARY_BENCH_PG_PORT (54341),
# TRIBUTARY_BENCH_TANSU_PORT (19094), BENCH_TIMEOUT (seconds per measured command, default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
export TRIBUTARY_RUN=${TRIBUTARY_BENCH_RUN:-/tmp/tributary-bench}
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

rows=${N:-1000000}
pg_port=${TRIBUTARY_BENCH_PG_PORT:-54341}
tansu_port=${TRIBUTARY_BENCH_TANSU_PORT:-19094}
bench_timeout=${BENCH_TIMEOUT:-900}
db=bench
slot=bench_slot
publication=bench_pub
results="$TRIBUTARY_RUN/results.txt"
case "$rows" in '' | *[!0-9]* | 0) die "N must be a positive number of rows, not '$rows'" ;; esac

step() { printf '=== %s\n' "$*" >&2; }

# report KEY VALUE: one figure, on stdout and in the results file.
report() {
  printf '%s=%s\n' "$1" "$2" | tee -a "$results"
}

# measure COMMAND...: runs COMMAND (bounded by BENCH_TIMEOUT) under /usr/bin/time; sets
# MEASURE_SECS (wall clock) and MEASURE_RSS_KB (peak resident set of COMMAND).
measure() {
  local timing="$TRIBUTARY_RUN/time.out" start end
  start=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$timing" timeout "$bench_timeout" "$@" ||
    die "measured command failed or exceeded ${bench_timeout}s: $*"
  end=$(date +%s%N)
  MEASURE_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  MEASURE_RSS_KB=$(tail -n 1 "$timing")
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'; }

psql_args=(-X -q -v ON_ERROR_STOP=1)
sql() { psql "${psql_args[@]}" -Atc "$1"; }

# Client connections go over TCP with password auth, as tributary's do.
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=tributary PGPASSWORD=tributary PGDATABASE=$db

install_cleanup_trap

step "dependencies"
ensure_deps

step "services (run directory $TRIBUTARY_RUN)"
# A fresh cluster; no checkpoint storms during the load.
TRIBUTARY_PG_FRESH=1 start_postgres bench "$pg_port" max_wal_size=8GB checkpoint_timeout=30min
start_tansu "$tansu_port"
: >"$results"
# Checkpoints of an earlier run belong to slots of a cluster that no longer exists.
rm -rf "$TRIBUTARY_RUN"/data-*

step "loading $rows rows into bench_wide"
pg_psql bench -d postgres -c "CREATE DATABASE $db OWNER tributary"
psql "${psql_args[@]}" >/dev/null <<SQL
CREATE TABLE bench_wide (
    id         bigint NOT NULL,
    qty        integer NOT NULL,
    descr      text NOT NULL,
    code       varchar(32) NOT NULL,
    amount     numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    active     boolean NOT NULL,
    attrs      jsonb NOT NULL,
    ref        uuid NOT NULL,
    day        date NOT NULL,
    score      float8 NOT NULL
);
CREATE PUBLICATION $publication FOR TABLE bench_wide;
SELECT pg_create_logical_replication_slot('$slot', 'pgoutput');
SQL
load_sql="INSERT INTO bench_wide
SELECT g,
       (g % 100000)::int,
       md5(g::text) || lpad((g % 100000000)::text, 8, '0'),
       'code-' || (g % 1000),
       round((g % 10000000) / 100.0, 2),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
       g % 2 = 0,
       jsonb_build_object('k', g % 100, 'tag', 't' || g % 10),
       md5(g::text)::uuid,
       date '2020-01-01' + (g % 3650)::int,
       g * 0.5
FROM generate_series(1, $rows) AS g"
measure psql "${psql_args[@]}" -c "$load_sql"
insert_end_lsn=$(sql "SELECT pg_current_wal_lsn()")
insert_wal_bytes=$(sql "SELECT pg_wal_lsn_diff('$insert_end_lsn', confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = '$slot'")
report bench.rows "$rows"
report load.seconds "$MEASURE_SECS"
# The primary key comes after the load (faster); VACUUM sets hint bits so that COPY measures
# reading, not the first scan's writes.
psql "${psql_args[@]}" -c "ALTER TABLE bench_wide ADD PRIMARY KEY (id)" -c "VACUUM (ANALYZE) bench_wide"
report bench.table_bytes "$(sql "SELECT pg_total_relation_size('bench_wide')")"

step "limit: COPY bench_wide TO STDOUT > /dev/null"
measure psql "${psql_args[@]}" -o /dev/null -c "COPY bench_wide TO STDOUT"
report limit.copy_rows_per_s "$(rate "$rows" "$MEASURE_SECS")"
report limit.copy_seconds "$MEASURE_SECS"
report limit.copy_peak_rss_kb "$MEASURE_RSS_KB"

# recvlogical LABEL END_LSN ROWS WAL_BYTES: drains the slot up to END_LSN and reports the rate.
recvlogical() {
  measure pg_recvlogical -d "$db" --slot "$slot" --start --no-loop -o proto_version=1 \
    -o "publication_names=$publication" --endpos "$2" -f /dev/null
  report "limit.$1_rows_per_s" "$(rate "$3" "$MEASURE_SECS")"
  report "limit.$1_seconds" "$MEASURE_SECS"
  report "limit.$1_wal_mb_per_s" "$(rate "$(($4 / 1048576))" "$MEASURE_SECS")"
  report "limit.$1_peak_rss_kb" "$MEASURE_RSS_KB"
}

step "limit: pg_recvlogical draining the $rows inserts (endpos $insert_end_lsn)"
recvlogical recvlogical "$insert_end_lsn" "$rows" "$insert_wal_bytes"

if [ "${BENCH_UPDATE:-0}" = 1 ]; then
  step "limit: pg_recvlogical draining an UPDATE of every row (one transaction)"
  update_start_lsn=$(sql "SELECT pg_current_wal_lsn()")
  measure psql "${psql_args[@]}" -c "UPDATE bench_wide SET qty = qty + 1"
  report update.seconds "$MEASURE_SECS"
  update_end_lsn=$(sql "SELECT pg_current_wal_lsn()")
  recvlogical recvlogical_update "$update_end_lsn" "$rows" \
    "$(sql "SELECT pg_wal_lsn_diff('$update_end_lsn', '$update_start_lsn')")"
fi

# ---------------------------------------------------------------------------------------------
# tributary, on the same data and machine, into the broker (kafka) and into the null sink (null):
#   snapshot: a full-only task over bench_wide, from start to completion (slot creation, topic
#             creation and the final flush included), beside limit.copy_rows_per_s;
#   stream:   an incremental task whose slot exists before a second load of N rows, run with
#             --until-lsn at the load's end LSN, beside pg_recvlogical draining the same load.
# Each run's peak RSS is reported; ratios are tributary's rate over the limit of this run.
bin=${BENCH_BIN:-target/release/tributary}
# Stream measurements, SINK:FORMAT: the null sink shows the pipeline without a broker; every
# format runs into the broker.
stream_lanes="null:debezium_json kafka:debezium_json kafka:canal_json kafka:dts_avro kafka:shareplex_json"
bench_task() { # NAME PHASE [FORMAT] -> task file path
  local f="$TRIBUTARY_RUN/$1.toml"
  cat >"$f" <<TOML
name = "$1"
[source]
kind = "postgres"
url = "postgres://tributary:tributary@127.0.0.1:$pg_port/$db"
status_interval = "100ms"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:$tansu_port"
format = "${3:-debezium_json}"
[objects]
tables = ["public.bench_wide"]
[migration]
phases = ["$2"]
checkpoint_interval = "100ms"
TOML
  printf '%s' "$f"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

run_tributary_measurements() {
  if [ -z "${BENCH_BIN:-}" ]; then
    step "building tributary (release)"
    cargo build --release --quiet
  fi
  local sink task copy_rate rate
  copy_rate=$(awk -F= '$1 == "limit.copy_rows_per_s" { print $2 }' "$results")
  for sink in null kafka; do
    step "tributary snapshot of $rows rows, $sink sink"
    task=$(bench_task "snap_$sink" full)
    measure "$bin" run --task "$task" --data-dir "$TRIBUTARY_RUN/data-snap-$sink" --sink "$sink" --progress never
    rate=$(rate "$rows" "$MEASURE_SECS")
    report "tributary.snapshot_${sink}_rows_per_s" "$rate"
    report "tributary.snapshot_${sink}_peak_rss_kb" "$MEASURE_RSS_KB"
    report "ratio.snapshot_${sink}_vs_copy" "$(ratio "$rate" "$copy_rate")"
  done
  step "creating the stream tasks' slots before a second load"
  local here
  here=$(sql "SELECT pg_current_wal_lsn()")
  local lane
  for lane in $stream_lanes; do
    sink=${lane%%:*}
    task=$(bench_task "cdc_${lane/:/_}" incremental "${lane#*:}")
    timeout "$bench_timeout" "$bin" run --task "$task" --data-dir "$TRIBUTARY_RUN/data-cdc-${lane/:/_}" --sink "$sink" \
      --progress never --until-lsn "$here" || die "could not start the stream task ($lane)"
  done
  # The limit must drain exactly the WAL range tributary drains: the bench slot still stands
  # where the first load ended (the primary key's index build and VACUUM came after), so it is
  # moved to where the stream tasks' slots now stand, outside the measurement.
  local ready
  ready=$(sql "SELECT max(confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name <> '$slot'")
  sql "SELECT pg_replication_slot_advance('$slot', '$ready')" >/dev/null
  step "second load: $rows more rows"
  local load2_start load2_end load2_bytes rl_rate
  load2_start=$(sql "SELECT pg_current_wal_lsn()")
  measure psql "${psql_args[@]}" -c "${load_sql/SELECT g,/SELECT g + $rows,}"
  load2_end=$(sql "SELECT pg_current_wal_lsn()")
  load2_bytes=$(sql "SELECT pg_wal_lsn_diff('$load2_end', '$ready')")
  step "limit: pg_recvlogical draining the second load"
  recvlogical recvlogical_load2 "$load2_end" "$rows" "$load2_bytes"
  rl_rate=$(awk -F= '$1 == "limit.recvlogical_load2_rows_per_s" { print $2 }' "$results")
  local name
  for lane in $stream_lanes; do
    sink=${lane%%:*}
    # The Debezium lanes keep their historical names (stream_null, stream_kafka).
    name=$sink
    [ "${lane#*:}" = debezium_json ] || name="${sink}_${lane#*:}"
    step "tributary stream of $rows inserts, $sink sink, ${lane#*:}"
    task="$TRIBUTARY_RUN/cdc_${lane/:/_}.toml"
    measure "$bin" run --task "$task" --data-dir "$TRIBUTARY_RUN/data-cdc-${lane/:/_}" --sink "$sink" --progress never \
      --until-lsn "$load2_end"
    rate=$(rate "$rows" "$MEASURE_SECS")
    report "tributary.stream_${name}_rows_per_s" "$rate"
    report "tributary.stream_${name}_peak_rss_kb" "$MEASURE_RSS_KB"
    report "ratio.stream_${name}_vs_recvlogical" "$(ratio "$rate" "$rl_rate")"
  done
  run_format_measurements
}

# Each format's serialisation on one core (tests/format_bench.rs, over bench_wide's rows in their
# wire form) beside the stream rate into the broker in that format: the share of the stream's
# time the format costs (goal: at most 0.10).
run_format_measurements() {
  local out="$TRIBUTARY_RUN/format-bench.log" f per_s stream
  step "format serialisation throughput on one core (log: $out)"
  TRIBUTARY_BENCH_URL="postgres://tributary:tributary@127.0.0.1:$pg_port/$db" \
    timeout "$bench_timeout" cargo nextest run --release --test format_bench --run-ignored only \
    --no-capture >"$out" 2>&1 || die "format measurements failed: see $out"
  for f in debezium_json canal_json dts_avro shareplex_json; do
    per_s=$(sed -nE "s/^FORMAT format=$f op=insert .*events_per_s=([0-9]+).*/\1/p" "$out")
    update_per_s=$(sed -nE "s/^FORMAT format=$f op=update .*events_per_s=([0-9]+).*/\1/p" "$out")
    [ -n "$per_s" ] && [ -n "$update_per_s" ] || die "no figure for format $f in $out"
    report "format.${f}_events_per_s" "$per_s"
    report "format.${f}_update_full_events_per_s" "$update_per_s"
    if [ "$f" = debezium_json ]; then
      stream=$(awk -F= '$1 == "tributary.stream_kafka_rows_per_s" { print $2 }' "$results")
    else
      stream=$(awk -F= -v k="tributary.stream_kafka_${f}_rows_per_s" '$1 == k { print $2 }' "$results")
    fi
    report "ratio.format_${f}_cost_of_stream" "$(ratio "$stream" "$per_s")"
    # Against the insert stream: an UPDATE stream under FULL decodes two images and is slower,
    # so this overstates the update's share.
    report "ratio.format_${f}_update_full_cost_of_stream" "$(ratio "$stream" "$update_per_s")"
  done
}

# The cluster: failover time (SIGKILL of a shard's owner to the first event its new owner
# produced, five times, with the events re-sent) and one 4-shard task on 3 workers against the
# same task in `tributary run` (tests/cluster_bench.rs, on this run's PostgreSQL and broker).
run_cluster_measurements() {
  export TRIBUTARY_TEST_PG_URL="postgres://tributary:tributary@127.0.0.1:$pg_port/postgres"
  export TRIBUTARY_TEST_KAFKA="127.0.0.1:$tansu_port"
  local out="$TRIBUTARY_RUN/cluster-bench.log"
  step "cluster: failover and 4 shards on 3 workers (log: $out)"
  timeout "$bench_timeout" cargo nextest run --release --test cluster_bench --run-ignored only \
    --no-capture >"$out" 2>&1 || die "cluster measurements failed: see $out"
  grep '^round ' "$out" >&2 || true
  local f c
  f=$(grep '^FAILOVER ' "$out")
  c=$(grep '^CLUSTER_SNAPSHOT ' "$out")
  report cluster.failover_median_ms "$(sed -E 's/.*median_ms=([0-9]+).*/\1/' <<<"$f")"
  report cluster.failover_max_ms "$(sed -E 's/.*max_ms=([0-9]+).*/\1/' <<<"$f")"
  report cluster.failover_resent_events "$(sed -E 's/.*resent=(\[[^]]*\]).*/\1/' <<<"$f")"
  report cluster.snapshot_4_shards_3_workers_rows_per_s "$(sed -E 's/.*cluster_rows_per_s=([0-9]+).*/\1/' <<<"$c")"
  report cluster.snapshot_run_rows_per_s "$(sed -E 's/.*run_rows_per_s=([0-9]+).*/\1/' <<<"$c")"
  report ratio.cluster_vs_run "$(sed -E 's/.*ratio=([0-9.]+).*/\1/' <<<"$c")"
}

# The Oracle source's parser and assembler on one core, from recorded-shape LogMiner rows (no
# Oracle Database runs here): tests/oracle_redo_bench.rs and tests/oracle_assemble_bench.rs.
# Goal: the parser is never the bottleneck (above 200k rows/s).
run_oracle_measurements() {
  local out="$TRIBUTARY_RUN/oracle-bench.log"
  step "Oracle SQL_REDO parser and transaction assembler on one core (log: $out)"
  timeout "$bench_timeout" cargo nextest run --release --test oracle_redo_bench \
    --test oracle_assemble_bench --run-ignored only --no-capture >"$out" 2>&1 ||
    die "Oracle measurements failed: see $out"
  local parse memory spill
  parse=$(sed -nE 's/^oracle_redo_parser .*rows_per_sec=([0-9]+).*/\1/p' "$out")
  memory=$(sed -nE 's/^ORACLE_ASSEMBLE shape=memory .*rows_per_s=([0-9]+).*/\1/p' "$out")
  spill=$(sed -nE 's/^ORACLE_ASSEMBLE shape=spill .*rows_per_s=([0-9]+).*/\1/p' "$out")
  [ -n "$parse" ] && [ -n "$memory" ] && [ -n "$spill" ] || die "no Oracle figure in $out"
  report oracle.redo_parser_rows_per_s "$parse"
  report oracle.assembler_memory_rows_per_s "$memory"
  report oracle.assembler_spilled_rows_per_s "$spill"
  report ratio.oracle_parser_vs_goal_200k "$(ratio "$parse" 200000)"
}

if [ "${BENCH_ORACLE:-1}" = 1 ]; then
  run_oracle_measurements
fi
if [ "${BENCH_TRIBUTARY:-1}" = 1 ]; then
  step "tributary"
  run_tributary_measurements || die "tributary measurements failed"
fi
if [ "${BENCH_CLUSTER:-1}" = 1 ]; then
  run_cluster_measurements
fi

step "done; figures in $results"
