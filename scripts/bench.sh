#!/usr/bin/env bash
# Benchmark harness. Loads `bench_wide` (N rows of typical column types) into a fresh PostgreSQL
# 15 and measures, in the same run, the physical limits a migration cannot beat here:
#   limit.copy_rows_per_s           `COPY bench_wide TO STDOUT` over TCP into /dev/null
#   limit.copy_8_tables_rows_per_s  the same rows split over eight tables (bench_t1..8), one
#                                   COPY after the other on one connection
#   limit.recvlogical_rows_per_s    pg_recvlogical (pgoutput, proto 1) draining the N inserts from
#                                   a slot created before the load, up to the load's end LSN
#   limit.producer_rows_per_s       a bare producer (tests/producer_bench.rs) sending N of the
#                                   snapshot's own records again (keys, values and the two
#                                   headers FORMATS.md requires), with tributary's producer
#                                   settings: the broker's ingest rate. The same without the
#                                   headers is reported beside it (limit.producer_no_headers_*)
# Each limit also reports its seconds and the client's peak RSS (/usr/bin/time). tributary's
# snapshot rates follow (one table and eight; full-only and chunked beside the stream; into the
# null sink and the broker), its stream rates into the broker once per message format, each
# format's serialisation rate on one core beside its stream rate (format.*, ratio.format_*), the
# peak RSS of one 2,000,000-row UPDATE streamed by the server (large_txn.*), the end-to-end
# latency under 20,000 rows/s of steady writes (latency.*), and the cluster's failover time and
# snapshot scaling from one worker to three (cluster.*). Every measurement reports its CPU seconds
# split into PostgreSQL's processes, the measured client and the broker (cpu.*). Figures go to
# stdout as key=value lines (and to $TRIBUTARY_RUN/results.txt); progress goes to stderr.
# Machines are shared: compare tributary's figure with the limit of the same run, as a ratio.
#
# Environment: N (rows, default 1000000), BENCH_UPDATE=1 also measures draining an UPDATE of
# every row, BENCH_TRIBUTARY=0 measures the limits only (=exactly_once: and exactly-once beside
# at-least-once on the mock cluster, exactly_once.*), BENCH_BIN measures another tributary
# binary (an A/B against an earlier build; default: this tree's release build), BENCH_CLUSTER=0
# skips the cluster's figures (tests/cluster_bench.rs; BENCH_CLUSTER_ROWS rows per table, default
# 250000), BENCH_SNAPSHOT_CONNECTIONS (the snapshot tasks' source.snapshot_connections, default 4),
# BENCH_SNAPSHOT_CHUNK_ROWS (their source.snapshot_chunk_rows; default: tributary's),
# BENCH_LARGE_TXN_ROWS (2000000), BENCH_LATENCY_ROWS_PER_S (20000), BENCH_LATENCY_SECONDS (30),
# BENCH_LATENCY_TX_ROWS (rows per transaction, 10), TRIBUTARY_BENCH_RUN (/tmp/tributary-bench),
# TRIBUTARY_BENCH_PG_PORT (54341), TRIBUTARY_BENCH_TANSU_PORT (19094),
# TRIBUTARY_BENCH_METRICS_PORT (19187), BENCH_TIMEOUT (seconds per measured command, default 900).
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

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds or SECONDS pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# CPU accounting. Every measurement also reports the CPU seconds (user + system) spent while
# it ran by the bench cluster's PostgreSQL processes, by the measured client (tributary, psql,
# pg_recvlogical: /usr/bin/time's %U + %S) and by the broker (its /proc/PID/stat).
clk_tck=$(getconf CLK_TCK)
broker_pid=""

# proc_ticks PID [CHILDREN]: utime + stime of PID in clock ticks (every thread), with CHILDREN=1
# also those of its ended children it reaped (cutime + cstime); 0 if PID is gone.
proc_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
    echo 0
    return
  }
  # After the command name's closing parenthesis: state, ppid, ... utime is the 12th field.
  awk -v c="${2:-0}" '{ print $12 + $13 + (c ? $14 + $15 : 0) }' <<<"${stat##*) }"
}

# pg_ticks: the bench cluster's CPU ticks: the postmaster with every backend that has ended
# (reaped into its cutime/cstime), and every live child.
pg_ticks() {
  local pm total child
  pm=$(head -n 1 "$(pg_dir bench)/data/postmaster.pid")
  total=$(proc_ticks "$pm" 1)
  for child in $(pgrep -P "$pm"); do
    total=$((total + $(proc_ticks "$child")))
  done
  echo "$total"
}

broker_ticks() { if [ -n "$broker_pid" ]; then proc_ticks "$broker_pid"; else echo 0; fi; }

secs_of_ticks() { awk -v t="$1" -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }'; }

pg_children() { pgrep -P "$(head -n 1 "$(pg_dir bench)/data/postmaster.pid")" | sort; }

cpu_begin() {
  CPU_PG_CHILDREN0=$(pg_children)
  CPU_PG0=$(pg_ticks)
  CPU_BROKER0=$(broker_ticks)
}

# pg_settled: every backend started since cpu_begin has ended and been reaped (its CPU is in
# the postmaster's cutime/cstime; a backend that ended but is not reaped yet is counted nowhere).
pg_settled() { [ -z "$(comm -13 <(printf '%s\n' "$CPU_PG_CHILDREN0") <(pg_children))" ]; }

# cpu_end: sets MEASURE_PG_CPU_S and MEASURE_BROKER_CPU_S since cpu_begin, once the measured
# client's backends are gone (at most 3 s: a backend still running, e.g. an autovacuum worker,
# is counted as far as it got).
cpu_end() {
  wait_for 3 pg_settled || true
  MEASURE_PG_CPU_S=$(secs_of_ticks $(($(pg_ticks) - CPU_PG0)))
  MEASURE_BROKER_CPU_S=$(secs_of_ticks $(($(broker_ticks) - CPU_BROKER0)))
}

# timed_figures FILE: MEASURE_RSS_KB and MEASURE_CPU_S from a `/usr/bin/time -f '%M %U %S'` file.
timed_figures() {
  read -r MEASURE_RSS_KB user system < <(tail -n 1 "$1")
  MEASURE_CPU_S=$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')
}

# report_cpu LABEL [CLIENT]: the CPU breakdown of the last measurement, CLIENT naming the
# measured program (default tributary).
report_cpu() {
  report "cpu.$1_postgres_s" "$MEASURE_PG_CPU_S"
  report "cpu.$1_${2:-tributary}_s" "$MEASURE_CPU_S"
  report "cpu.$1_broker_s" "$MEASURE_BROKER_CPU_S"
}

# measure COMMAND...: runs COMMAND (bounded by BENCH_TIMEOUT) under /usr/bin/time; sets
# MEASURE_SECS (wall clock), MEASURE_RSS_KB (peak resident set of COMMAND), MEASURE_CPU_S (its
# CPU seconds) and the CPU breakdown (cpu_end).
measure() {
  local timing="$TRIBUTARY_RUN/time.out" start end
  cpu_begin
  start=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$timing" timeout "$bench_timeout" "$@" ||
    die "measured command failed or exceeded ${bench_timeout}s: $*"
  end=$(date +%s%N)
  cpu_end
  MEASURE_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  timed_figures "$timing"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'; }

psql_args=(-X -q -v ON_ERROR_STOP=1)
sql() { psql "${psql_args[@]}" -Atc "$1"; }

# Client connections go over TCP with password auth, as tributary's do.
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=tributary PGPASSWORD=tributary PGDATABASE=$db

install_cleanup_trap

step "dependencies"
ensure_bench_deps

step "services (run directory $TRIBUTARY_RUN)"
# A fresh cluster; no checkpoint storms during the load.
TRIBUTARY_PG_FRESH=1 start_postgres bench "$pg_port" max_wal_size=8GB checkpoint_timeout=30min
start_tansu "$tansu_port"
broker_pid=$(_tansu_pid "$tansu_port")
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
report_cpu limit_copy psql

# Eight tables of N/8 rows each, bench_wide's shape and rows, keyed like it; not in the bench
# publication (the stream limits drain bench_wide only), and loaded before the stream tasks'
# slots exist (outside the WAL range the stream measurements drain).
eight_rows=$((rows / 8))
eight_tables=()
step "loading 8 tables of $eight_rows rows (bench_t1..bench_t8)"
for k in 1 2 3 4 5 6 7 8; do
  eight_tables+=("bench_t$k")
  psql "${psql_args[@]}" -c "CREATE TABLE bench_t$k (LIKE bench_wide INCLUDING ALL)" \
    -c "INSERT INTO bench_t$k SELECT * FROM bench_wide WHERE id > $(((k - 1) * eight_rows)) AND id <= $((k * eight_rows))" \
    -c "VACUUM (ANALYZE) bench_t$k"
done
step "limit: one COPY ... TO STDOUT per table of the eight, one after another on one connection"
copy8=()
for t in "${eight_tables[@]}"; do copy8+=(-c "COPY $t TO STDOUT"); done
measure psql "${psql_args[@]}" -o /dev/null "${copy8[@]}"
report limit.copy_8_tables_rows_per_s "$(rate $((8 * eight_rows)) "$MEASURE_SECS")"
report limit.copy_8_tables_seconds "$MEASURE_SECS"
report_cpu limit_copy_8_tables psql

# recvlogical LABEL END_LSN ROWS WAL_BYTES: drains the slot up to END_LSN and reports the rate.
recvlogical() {
  measure pg_recvlogical -d "$db" --slot "$slot" --start --no-loop -o proto_version=1 \
    -o "publication_names=$publication" --endpos "$2" -f /dev/null
  report "limit.$1_rows_per_s" "$(rate "$3" "$MEASURE_SECS")"
  report "limit.$1_seconds" "$MEASURE_SECS"
  report "limit.$1_wal_mb_per_s" "$(rate "$(($4 / 1048576))" "$MEASURE_SECS")"
  report "limit.$1_peak_rss_kb" "$MEASURE_RSS_KB"
  report_cpu "limit_$1" pg_recvlogical
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
#             creation and the final flush included), beside limit.copy_rows_per_s; the same
#             over the eight tables (spread over the snapshot connections); and both again in a
#             task that also streams (full + incremental: keyed tables are read in key-range
#             chunks beside the stream, `snapshot_connections` at a time), timed from start to
#             the metrics showing the snapshot complete and every row durable;
#   stream:   an incremental task whose slot exists before a second load of N rows, run with
#             --until-lsn at the load's end LSN, beside pg_recvlogical draining the same load.
# Each run's peak RSS and CPU breakdown are reported; ratios are tributary's rate over the limit
# of this run. Into the broker, the limit is the lesser of COPY and a bare producer's ingest rate.
bin=${BENCH_BIN:-target/release/tributary}
# Snapshot connections of the snapshot tasks (the parallelism the eight tables and the chunks
# use; the default is 2).
snapshot_connections=${BENCH_SNAPSHOT_CONNECTIONS:-4}
# Rows per chunk of the chunked snapshots (empty: tributary's default, 8,192).
snapshot_chunk_rows=${BENCH_SNAPSHOT_CHUNK_ROWS:-}
metrics_port=${TRIBUTARY_BENCH_METRICS_PORT:-19187}
# Stream measurements, SINK:FORMAT: the null sink shows the pipeline without a broker; every
# format runs into the broker.
stream_lanes="null:debezium_json kafka:debezium_json kafka:canal_json kafka:dts_avro kafka:shareplex_json"
# bench_task NAME PHASES [FORMAT] [TABLES] [URL_QUERY] -> task file path. PHASES is a comma list
# (full,incremental), TABLES a space-separated list (default bench_wide).
bench_task() {
  local f="$TRIBUTARY_RUN/$1.toml" t tables=""
  for t in ${4:-bench_wide}; do tables+="${tables:+, }\"public.$t\""; done
  cat >"$f" <<TOML
name = "$1"
[source]
kind = "postgres"
url = "postgres://tributary:tributary@127.0.0.1:$pg_port/$db${5:-}"
status_interval = "100ms"
snapshot_connections = $snapshot_connections
${snapshot_chunk_rows:+snapshot_chunk_rows = $snapshot_chunk_rows}
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:$tansu_port"
format = "${3:-debezium_json}"
[objects]
tables = [$tables]
[migration]
phases = ["${2//,/\", \"}"]
checkpoint_interval = "100ms"
TOML
  printf '%s' "$f"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
lesser() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
figure() { awk -F= -v k="$1" '$1 == k { print $2 }' "$results"; }

# scrape: the metrics the running task serves (empty while it serves none).
scrape() { curl -fs --max-time 2 "http://127.0.0.1:$metrics_port/metrics" || true; }

# metric_sum NAME: the sum of NAME's series in the last scrape ($scraped).
metric_sum() {
  awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF; f = 1 } END { if (f) print s + 0; else print "" }' <<<"$scraped"
}

# snapshot_durable ROWS: the task's snapshot is complete and ROWS records are durable.
snapshot_durable() {
  scraped=$(scrape)
  local complete durable
  complete=$(metric_sum tributary_snapshot_complete)
  durable=$(metric_sum tributary_pipeline_records_durable_total)
  [ "${complete:-0}" = 1 ] && [ "${durable:-0}" -ge "$1" ]
}

# measure_served CONDITION ARGS -- TRIBUTARY_ARGS...: starts tributary with its metrics served,
# polls `CONDITION ARGS` every 50 ms, takes the time once it holds (MEASURE_SECS, the metrics
# being published once per checkpoint interval, 100 ms), then stops tributary with SIGTERM (its
# clean exit included in its peak RSS and CPU, not in the time).
measure_served() {
  local cond=() timing="$TRIBUTARY_RUN/time-served.out" start end tpid pid deadline
  while [ "$1" != -- ]; do
    cond+=("$1")
    shift
  done
  shift
  cpu_begin
  start=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$timing" "$bin" run --metrics-addr "127.0.0.1:$metrics_port" "$@" &
  tpid=$!
  deadline=$((SECONDS + bench_timeout))
  until "${cond[@]}"; do
    if ! kill -0 "$tpid" 2>/dev/null; then
      wait "$tpid" || true
      die "tributary exited before '${cond[*]}' held: $*"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      pkill -TERM -P "$tpid" || true
      wait "$tpid" || true
      die "'${cond[*]}' did not hold within ${bench_timeout}s: $*"
    fi
    sleep 0.05
  done
  end=$(date +%s%N)
  pid=$(pgrep -P "$tpid") || die "tributary's process not found under /usr/bin/time ($tpid)"
  kill -TERM "$pid"
  wait "$tpid" || die "tributary did not exit cleanly on SIGTERM: $*"
  cpu_end
  MEASURE_SECS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  timed_figures "$timing"
}

# release TASK_FILE: drops a measured task's slot, publication and topics (outside the time),
# so that no slot holds WAL and the broker's memory does not fill with old topics.
release() {
  "$bin" release --task "$1" --data-dir "$2" --delete-topics >/dev/null 2>&1 ||
    warn "could not release $1"
}

# snapshot_figures NAME ROWS LIMIT_RATE LIMIT_NAME: the rate, RSS, CPU and ratio of the last
# snapshot measurement.
snapshot_figures() {
  local rate
  rate=$(rate "$2" "$MEASURE_SECS")
  report "tributary.$1_rows_per_s" "$rate"
  report "tributary.$1_seconds" "$MEASURE_SECS"
  report "tributary.$1_peak_rss_kb" "$MEASURE_RSS_KB"
  report_cpu "$1"
  report "ratio.$1_vs_$4" "$(ratio "$rate" "$3")"
}

# The snapshots: {one table, eight tables} x {full-only, full + incremental (chunked)} x
# {null, kafka}. Into the broker, the limit is the lesser of COPY and the bare producer.
run_snapshot_measurements() {
  local copy_rate copy8_rate sink task data name tables n chunked phases limit producer
  copy_rate=$(figure limit.copy_rows_per_s)
  copy8_rate=$(figure limit.copy_8_tables_rows_per_s)
  report bench.snapshot_connections "$snapshot_connections"
  report bench.snapshot_chunk_rows "${snapshot_chunk_rows:-default}"
  for sink in null kafka; do
    for tables in one eight; do
      for chunked in 0 1; do
        if [ "$tables" = one ]; then
          name=snapshot_$sink
          n=$rows
          set -- bench_wide
          limit=$copy_rate
        else
          name=snapshot_8_tables_$sink
          n=$((8 * eight_rows))
          set -- "${eight_tables[@]}"
          limit=$copy8_rate
        fi
        phases=full
        if [ "$chunked" = 1 ]; then
          name=${name/snapshot_/snapshot_chunked_}
          phases=full,incremental
        fi
        step "tributary $name: $n rows, $phases, $sink sink"
        task=$(bench_task "$name" "$phases" debezium_json "$*")
        data="$TRIBUTARY_RUN/data-$name"
        if [ "$chunked" = 1 ]; then
          measure_served snapshot_durable "$n" -- --task "$task" --data-dir "$data" --sink "$sink" --progress never
        else
          measure "$bin" run --task "$task" --data-dir "$data" --sink "$sink" --progress never
        fi
        if [ "$sink" = null ]; then
          snapshot_figures "$name" "$n" "$limit" copy
        else
          producer=$(figure limit.producer_rows_per_s)
          if [ -z "$producer" ]; then
            # The bare producer sends this first snapshot's records again.
            run_producer_limit "$name.public.bench_wide" "$n" 1 producer
            run_producer_limit "$name.public.bench_wide" "$n" 0 producer_no_headers
            producer=$(figure limit.producer_rows_per_s)
          fi
          snapshot_figures "$name" "$n" "$(lesser "$limit" "$producer")" copy_or_producer
          # Against COPY alone too, as earlier runs reported it.
          report "ratio.${name}_vs_copy" "$(ratio "$(figure "tributary.${name}_rows_per_s")" "$limit")"
        fi
        release "$task" "$data"
      done
    done
  done
}

# run_producer_limit TOPIC N HEADERS NAME: the broker's ingest rate from a bare producer sending
# TOPIC's records again, N of them, with their headers (HEADERS=1) or without (0)
# (tests/producer_bench.rs), reported as limit.NAME_*. The figures of the measurement before it
# (MEASURE_*) are kept.
run_producer_limit() {
  local out="$TRIBUTARY_RUN/$4-bench.log" timing="$TRIBUTARY_RUN/time-$4.out" line
  local kept=("$MEASURE_SECS" "$MEASURE_RSS_KB" "$MEASURE_CPU_S" "$MEASURE_PG_CPU_S" "$MEASURE_BROKER_CPU_S")
  step "limit: a bare producer sending $2 of $1's records to a fresh topic, headers=$3 (log: $out)"
  cpu_begin
  TRIBUTARY_BENCH_KAFKA="127.0.0.1:$tansu_port" BENCH_PRODUCER_SOURCE_TOPIC="$1" BENCH_PRODUCER_MESSAGES="$2" \
    BENCH_PRODUCER_HEADERS="$3" \
    /usr/bin/time -f '%M %U %S' -o "$timing" timeout "$bench_timeout" cargo nextest run --release \
    --test producer_bench --run-ignored only --no-capture >"$out" 2>&1 ||
    die "the producer measurement failed: see $out"
  cpu_end
  timed_figures "$timing"
  line=$(grep '^PRODUCER ' "$out") || die "no PRODUCER line in $out"
  report "limit.$4_rows_per_s" "$(sed -E 's/.*rows_per_s=([0-9]+).*/\1/' <<<"$line")"
  report "limit.$4_seconds" "$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$line")"
  report "limit.$4_avg_record_bytes" "$(sed -E 's/.*avg_record_bytes=([0-9]+).*/\1/' <<<"$line")"
  # The producer's CPU includes cargo nextest's and the reading of the sample records; the
  # broker's is its own, over the same span.
  report_cpu "limit_$4" producer
  MEASURE_SECS=${kept[0]} MEASURE_RSS_KB=${kept[1]} MEASURE_CPU_S=${kept[2]}
  MEASURE_PG_CPU_S=${kept[3]} MEASURE_BROKER_CPU_S=${kept[4]}
}

run_tributary_measurements() {
  if [ -z "${BENCH_BIN:-}" ]; then
    step "building tributary (release)"
    cargo build --release --quiet
  fi
  run_snapshot_measurements
  local sink task rate
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
  local load2_end load2_bytes rl_rate
  measure psql "${psql_args[@]}" -c "${load_sql/SELECT g,/SELECT g + $rows,}"
  load2_end=$(sql "SELECT pg_current_wal_lsn()")
  load2_bytes=$(sql "SELECT pg_wal_lsn_diff('$load2_end', '$ready')")
  step "limit: pg_recvlogical draining the second load"
  recvlogical recvlogical_load2 "$load2_end" "$rows" "$load2_bytes"
  rl_rate=$(figure limit.recvlogical_load2_rows_per_s)
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
    report_cpu "stream_${name}"
    report "ratio.stream_${name}_vs_recvlogical" "$(ratio "$rate" "$rl_rate")"
  done
  for lane in $stream_lanes; do
    release "$TRIBUTARY_RUN/cdc_${lane/:/_}.toml" "$TRIBUTARY_RUN/data-cdc-${lane/:/_}"
  done
  run_format_measurements
  run_large_transaction_measurement
  run_latency_measurement
  run_exactly_once_measurement
}

# Exactly-once beside at-least-once (goal: at least 0.7x with the default transaction size),
# both into librdkafka's mock cluster (`tributary mock-kafka`, three brokers; tansu has no
# transactions): the chunked snapshot of bench_wide (full + incremental), timed as the other
# chunked snapshots. A Kafka transaction closes at the end of a chunk (8,192 rows by default)
# once it holds 1,000,000 records or is 1 s old (the defaults).
run_exactly_once_measurement() {
  local mock_out="$TRIBUTARY_RUN/mock-kafka.out" mock_pid servers delivery task data name rate
  step "exactly-once beside at-least-once: the chunked snapshot of $rows rows into the mock cluster"
  "$bin" mock-kafka --brokers 3 --topic eo_at_least_once.public.bench_wide \
    --topic eo_exactly_once.public.bench_wide --topic __tributary_checkpoints >"$mock_out" &
  mock_pid=$!
  wait_for 30 grep -q "^bootstrap_servers=" "$mock_out" || die "the mock cluster did not start: see $mock_out"
  servers=$(sed -n 's/^bootstrap_servers=//p' "$mock_out")
  for delivery in at_least_once exactly_once; do
    name=eo_$delivery
    task=$(bench_task "$name" full,incremental debezium_json)
    sed -i "s/^bootstrap_servers = .*/bootstrap_servers = \"$servers\"\ndelivery = \"$delivery\"/" "$task"
    data="$TRIBUTARY_RUN/data-$name"
    measure_served snapshot_durable "$rows" -- --task "$task" --data-dir "$data" --progress never
    rate=$(rate "$rows" "$MEASURE_SECS")
    report "tributary.snapshot_chunked_mock_${delivery}_rows_per_s" "$rate"
    report "tributary.snapshot_chunked_mock_${delivery}_peak_rss_kb" "$MEASURE_RSS_KB"
    report_cpu "snapshot_chunked_mock_${delivery}"
    "$bin" release --task "$task" --data-dir "$data" >/dev/null 2>&1 || warn "could not release $task"
  done
  kill "$mock_pid" 2>/dev/null || true
  wait "$mock_pid" 2>/dev/null || true
  report ratio.exactly_once_vs_at_least_once "$(ratio \
    "$(figure tributary.snapshot_chunked_mock_exactly_once_rows_per_s)" \
    "$(figure tributary.snapshot_chunked_mock_at_least_once_rows_per_s)")"
}

# One UPDATE of BENCH_LARGE_TXN_ROWS rows (default 2,000,000) in one transaction, which the
# server streams while it runs (`logical_decoding_work_mem = 64kB` on the task's connections),
# drained into the broker by an incremental task up to the transaction's end: tributary's peak
# RSS (goal: under 200 MB) and pg_stat_replication_slots' count of streamed transactions.
run_large_transaction_measurement() {
  local n=${BENCH_LARGE_TXN_ROWS:-2000000} task data here end streamed0 streamed
  step "large transaction: $n rows in public.large_t"
  psql "${psql_args[@]}" -c "CREATE TABLE large_t (id int PRIMARY KEY, pad text NOT NULL)" \
    -c "INSERT INTO large_t SELECT g, 'p' FROM generate_series(1, $n) g" -c "VACUUM (ANALYZE) large_t"
  task=$(bench_task large_txn incremental debezium_json large_t "?options=-c%20logical_decoding_work_mem%3D64kB")
  data="$TRIBUTARY_RUN/data-large_txn"
  here=$(sql "SELECT pg_current_wal_lsn()")
  timeout "$bench_timeout" "$bin" run --task "$task" --data-dir "$data" --progress never --until-lsn "$here" ||
    die "could not start the large transaction's task"
  step "large transaction: UPDATE of every row in one transaction"
  measure psql "${psql_args[@]}" -c "UPDATE large_t SET pad = repeat('q', 100)"
  report large_txn.rows "$n"
  report large_txn.update_seconds "$MEASURE_SECS"
  end=$(sql "SELECT pg_current_wal_lsn()")
  streamed0=$(sql "SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots")
  step "tributary: the large transaction into the broker (--until-lsn $end)"
  measure "$bin" run --task "$task" --data-dir "$data" --progress never --until-lsn "$end"
  streamed=$(sql "SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots")
  report tributary.large_txn_2m_peak_rss_kb "$MEASURE_RSS_KB"
  report tributary.large_txn_rows_per_s "$(rate "$n" "$MEASURE_SECS")"
  report tributary.large_txn_seconds "$MEASURE_SECS"
  report large_txn.streamed_transactions "$((streamed - streamed0))"
  report_cpu large_txn
  release "$task" "$data"
}

# Steady writes at BENCH_LATENCY_ROWS_PER_S (default 20,000) rows/s for BENCH_LATENCY_SECONDS
# (default 30) by pgbench (--rate, BENCH_LATENCY_TX_ROWS rows per transaction, default 10),
# streamed into the broker by an incremental task; p50 and p99 of the
# tributary_pipeline_event_latency_seconds histogram (commit to Kafka acknowledgement),
# interpolated linearly inside the bucket the quantile falls in. Goal: p99 under 25 ms.
run_latency_measurement() {
  local per_s=${BENCH_LATENCY_ROWS_PER_S:-20000} secs=${BENCH_LATENCY_SECONDS:-30}
  local per_tx=${BENCH_LATENCY_TX_ROWS:-10} task data script out tpid pid timing
  local inserted tps start end
  step "latency: $per_s rows/s for ${secs}s ($per_tx rows per transaction) into the broker"
  sql "CREATE TABLE lat_t (id bigserial PRIMARY KEY, v int NOT NULL, pad text NOT NULL)"
  task=$(bench_task latency incremental debezium_json lat_t)
  data="$TRIBUTARY_RUN/data-latency"
  script="$TRIBUTARY_RUN/latency.sql"
  out="$TRIBUTARY_RUN/pgbench.log"
  timing="$TRIBUTARY_RUN/time-latency.out"
  printf '%s\n' "INSERT INTO lat_t (v, pad) SELECT g, md5(g::text) FROM generate_series(1, $per_tx) g;" >"$script"
  /usr/bin/time -f '%M %U %S' -o "$timing" "$bin" run --task "$task" --data-dir "$data" \
    --progress never --metrics-addr "127.0.0.1:$metrics_port" &
  tpid=$!
  stream_ready() { [ "$(sql "SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name LIKE 'tributary_latency_%' AND r.state = 'streaming'")" = 1 ]; }
  # give_up MESSAGE: stops the task (it must not outlive the bench's services), then dies.
  give_up() {
    pkill -TERM -P "$tpid" || true
    wait "$tpid" || true
    die "$1"
  }
  wait_for 60 stream_ready || give_up "the latency task did not start streaming"
  cpu_begin
  start=$(date +%s%N)
  timeout "$bench_timeout" pgbench -n -f "$script" -c 4 -j 2 -T "$secs" --rate "$((per_s / per_tx))" \
    -h 127.0.0.1 -p "$pg_port" -U tributary "$db" >"$out" 2>&1 || give_up "pgbench failed: see $out"
  inserted=$(sql "SELECT count(*) FROM lat_t")
  events_all() {
    scraped=$(scrape)
    [ "$(metric_sum tributary_stream_events_total)" -ge "$inserted" ] 2>/dev/null
  }
  wait_for 120 events_all || give_up "the latency task did not deliver the $inserted rows"
  end=$(date +%s%N)
  scraped=$(scrape)
  pid=$(pgrep -P "$tpid") || die "tributary's process not found under /usr/bin/time ($tpid)"
  kill -TERM "$pid"
  wait "$tpid" || die "the latency task did not exit cleanly"
  cpu_end
  timed_figures "$timing"
  tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$out" | head -n 1)
  report latency.rows "$inserted"
  report latency.target_rows_per_s "$per_s"
  report latency.achieved_rows_per_s "$(awk -v t="$tps" -v r="$per_tx" 'BEGIN { printf "%d", t * r }')"
  report latency.rows_per_transaction "$per_tx"
  report latency.events "$(metric_sum tributary_pipeline_event_latency_seconds_count)"
  report latency.mean_ms "$(awk -v s="$(metric_sum tributary_pipeline_event_latency_seconds_sum)" \
    -v c="$(metric_sum tributary_pipeline_event_latency_seconds_count)" 'BEGIN { printf "%.1f", (c > 0 ? s / c * 1000 : 0) }')"
  report latency.p50_ms "$(histogram_quantile 0.50)"
  report latency.p99_ms "$(histogram_quantile 0.99)"
  report latency.buckets "$(awk '/^tributary_pipeline_event_latency_seconds_bucket/ { match($0, /le="[^"]*"/); printf "%s%s:%s", (n++ ? "," : ""), substr($0, RSTART + 4, RLENGTH - 5), $NF }' <<<"$scraped")"
  report tributary.latency_peak_rss_kb "$MEASURE_RSS_KB"
  report latency.seconds "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
  report_cpu latency
  release "$task" "$data"
}

# histogram_quantile Q: the Q quantile (ms) of the latency histogram in $scraped, linear inside
# its bucket (from the bucket below's bound; the first from 0). Beyond the last finite bound
# (60 s) it prints that bound with a '>'.
histogram_quantile() {
  awk -v q="$1" '
    /^tributary_pipeline_event_latency_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      n++; bound[n] = (le == "+Inf" ? -1 : le + 0); count[n] = $NF + 0
    }
    END {
      total = count[n]; want = q * total; lo = 0; below = 0
      for (i = 1; i <= n; i++) {
        if (count[i] >= want && total > 0) {
          if (bound[i] < 0) { printf ">%.0f", lo * 1000; exit }
          inb = count[i] - below
          printf "%.1f", (lo + (inb > 0 ? (want - below) / inb : 0) * (bound[i] - lo)) * 1000
          exit
        }
        lo = bound[i]; below = count[i]
      }
    }' <<<"$scraped"
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
    if [ -z "$per_s" ] || [ -z "$update_per_s" ]; then die "no figure for format $f in $out"; fi
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
  export TRIBUTARY_BENCH_BROKER_PID="$broker_pid"
  local out="$TRIBUTARY_RUN/cluster-bench.log"
  step "cluster: failover, 4 shards on 3 workers, 1 worker against 3 (log: $out)"
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
  # The same four-shard task on one worker, then on three (a fresh cluster each): two cores
  # serve both, so three workers can at best spread the work, not add CPUs. Then one shard,
  # whose chunk groups the two other workers read as lanes (source.snapshot_lanes).
  report_one_against_three CLUSTER_SCALING snapshot scaling "$out"
  report_one_against_three CLUSTER_LANES lanes lanes "$out"
}

# Reports a `tests/cluster_bench.rs` one-worker-against-three line (`tag`, then key=value
# words): cluster.<short>_rows, ratio.cluster_<short>_3_vs_1_workers, cpu.cluster_<name>_*
# and cluster.<name>_*.
report_one_against_three() {
  local tag=$1 name=$2 short=$3 out=$4 kv k v
  # One line of key=value words.
  # shellcheck disable=SC2013
  for kv in $(grep "^$tag " "$out" | cut -d' ' -f2-); do
    k=${kv%%=*}
    v=${kv#*=}
    case "$k" in
      rows) report "cluster.${short}_rows" "$v" ;;
      ratio) report "ratio.cluster_${short}_3_vs_1_workers" "$v" ;;
      one_cpu_*) report "cpu.cluster_${name}_1_worker_${k#one_cpu_}" "$v" ;;
      three_cpu_*) report "cpu.cluster_${name}_3_workers_${k#three_cpu_}" "$v" ;;
      *) report "cluster.${name}_${k}" "$v" ;;
    esac
  done
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
  if [ -z "$parse" ] || [ -z "$memory" ] || [ -z "$spill" ]; then die "no Oracle figure in $out"; fi
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
elif [ "${BENCH_TRIBUTARY}" = exactly_once ]; then
  # Only exactly-once beside at-least-once.
  [ -n "${BENCH_BIN:-}" ] || cargo build --release --quiet
  run_exactly_once_measurement || die "the exactly-once measurement failed"
fi
if [ "${BENCH_CLUSTER:-1}" = 1 ]; then
  run_cluster_measurements
fi

step "done; figures in $results"
