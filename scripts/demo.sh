#!/usr/bin/env bash
# A complete local demo: PostgreSQL 15 with a sample `shop` database, the tansu broker, and one
# tributary task moving the shop into Kafka (snapshot, then live changes).
#   1. installs what is missing and builds tributary (release)
#   2. starts PostgreSQL on 127.0.0.1:54331 and tansu on 127.0.0.1:19093, in their own run
#      directory (/tmp/tributary-demo), so the demo never collides with scripts/test.sh
#   3. loads scripts/demo-shop.sql (customers, orders) and starts `tributary run`
#   4. waits for the snapshot to reach the topics, makes live INSERT/UPDATE/DELETE changes,
#      waits for them, and prints sample messages and a summary
#   5. stops the task with SIGTERM (it flushes and exits 0) and everything it started, also on
#      failure or Ctrl-C
# Environment: TRIBUTARY_DEMO_RUN, TRIBUTARY_DEMO_PG_PORT, TRIBUTARY_DEMO_TANSU_PORT,
# DEMO_SNAPSHOT_TIMEOUT (seconds, default 300), DEMO_LIVE_TIMEOUT (seconds, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
export TRIBUTARY_RUN=${TRIBUTARY_DEMO_RUN:-/tmp/tributary-demo}
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

pg_port=${TRIBUTARY_DEMO_PG_PORT:-54331}
tansu_port=${TRIBUTARY_DEMO_TANSU_PORT:-19093}
snapshot_timeout=${DEMO_SNAPSHOT_TIMEOUT:-300}
live_timeout=${DEMO_LIVE_TIMEOUT:-60}
bootstrap="127.0.0.1:$tansu_port"
bin=target/release/tributary
task_file="$TRIBUTARY_RUN/shop-task.toml"
data_dir="$TRIBUTARY_RUN/tributary-data"
task_log="$TRIBUTARY_RUN/tributary.log"
tables=(customers orders)
task_pid=""

step() { printf '\n=== %s\n' "$*" >&2; }

# Stops the task with SIGTERM (it flushes and exits); SIGKILL after 30 s. Prints its exit status.
stop_task() {
  [ -n "$task_pid" ] || return 0
  local pid=$task_pid status=0
  task_pid=""
  if _pid_alive "$pid"; then
    log "stopping tributary (SIGTERM to pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! _wait_until 30 _pid_gone "$pid"; then
      warn "tributary did not exit within 30s of SIGTERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || status=$?
  log "tributary exited with status $status (log $task_log)"
  return "$status"
}
CLEANUP_HOOK=stop_task
install_cleanup_trap

# consume TOPIC MAX: the topic's messages from the beginning as JSON lines (at most MAX).
consume() {
  "$bin" consume --bootstrap-servers "$bootstrap" --topic "$1" --from-beginning --max "$2" \
    --timeout 5s 2>>"$TRIBUTARY_RUN/consume.log" || true
}

topic_of() { printf 'shop.public.%s\n' "$1"; }

task_alive_or_die() {
  _pid_alive "$task_pid" && return 0
  tail -n 20 "$task_log" >&2 || true
  die "tributary exited early; see $task_log"
}

# wait_for_counts SECONDS TABLE=COUNT...: until every table's topic holds at least COUNT messages.
wait_for_counts() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs)) pair table want have complete
  while :; do
    task_alive_or_die
    complete=1
    for pair in "$@"; do
      table=${pair%%=*}
      want=${pair#*=}
      have=$(consume "$(topic_of "$table")" "$want" | wc -l)
      printf '    %s: %s/%s messages\n' "$(topic_of "$table")" "$have" "$want" >&2
      [ "$have" -ge "$want" ] || complete=0
    done
    [ "$complete" = 1 ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

# Prints one line per message of a JSON-lines dump: op, key and a shortened value.
show_messages() {
  python3 -c '
import sys
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    print("    " + (line if len(line) <= 400 else line[:400] + " ..."))
'
}

# Summarises a JSON-lines dump: messages per Debezium op (tombstones counted apart).
count_ops() {
  python3 -c '
import json, sys
from collections import Counter
ops = Counter()
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        msg = json.loads(line)
    except ValueError:
        ops["unparsed"] += 1
        continue
    value = msg.get("value") if isinstance(msg, dict) else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if value is None:
        ops["tombstone"] += 1
    elif isinstance(value, dict):
        payload = value.get("payload", value) if isinstance(value.get("payload"), dict) else value
        ops[payload.get("op", "?")] += 1
    else:
        ops["?"] += 1
print(" ".join(f"{k}={v}" for k, v in sorted(ops.items())) or "none")
'
}

step "dependencies"
ensure_deps

step "cargo build --release"
cargo build --release
[ -x "$bin" ] || die "$bin was not built"

step "services (run directory $TRIBUTARY_RUN)"
TRIBUTARY_PG_FRESH=1 start_postgres demo "$pg_port"
start_tansu "$tansu_port"

step "sample database shop"
pg_psql demo -d postgres -c "CREATE DATABASE shop OWNER tributary"
pg_psql demo -d shop -f scripts/demo-shop.sql
declare -A rows
for table in "${tables[@]}"; do
  rows[$table]=$(pg_psql demo -d shop -Atc "SELECT count(*) FROM public.$table")
  printf '    public.%s: %s rows\n' "$table" "${rows[$table]}" >&2
done

step "tributary run (task $task_file, log $task_log)"
rm -rf "$data_dir" "$TRIBUTARY_RUN/consume.log"
cat >"$task_file" <<EOF
name = "shop"
[source]
kind = "postgres"
url = "postgres://tributary:tributary@127.0.0.1:$pg_port/shop"
[destination]
kind = "kafka"
bootstrap_servers = "$bootstrap"
format = "debezium_json"
[objects]
tables = ["public.*"]
[migration]
phases = ["full", "incremental"]
EOF
"$bin" run --task "$task_file" --data-dir "$data_dir" >"$task_log" 2>&1 &
task_pid=$!

step "waiting for the snapshot (at most ${snapshot_timeout}s)"
wait_for_counts "$snapshot_timeout" "customers=${rows[customers]}" "orders=${rows[orders]}" ||
  die "the snapshot did not reach the topics within ${snapshot_timeout}s; see $task_log"

step "live changes"
pg_psql demo -d shop -e <<'SQL'
INSERT INTO public.orders (customer_id, status, total, paid, items, note)
VALUES (1, 'new', 19.99, false, '[{"sku": "DEMO-1", "qty": 1}]', 'live insert 1'),
       (2, 'new', 5.00, false, '[{"sku": "DEMO-2", "qty": 2}]', 'live insert 2'),
       (3, 'paid', 1234.56, true, '[{"sku": "DEMO-3", "qty": 3}]', NULL);
UPDATE public.customers
   SET vip = true, credit_limit = credit_limit + 500, profile = profile || '{"upgraded": true}'
 WHERE id = 7;
UPDATE public.orders SET status = 'shipped', paid = true WHERE id = 10;
DELETE FROM public.orders WHERE id = 11;
SQL
# orders: 3 inserts, 1 update, 1 delete (plus its tombstone); customers: 1 update.
wait_for_counts "$live_timeout" "customers=$((rows[customers] + 1))" "orders=$((rows[orders] + 5))" ||
  die "the live changes did not reach the topics within ${live_timeout}s; see $task_log"

step "messages"
for table in "${tables[@]}"; do
  topic=$(topic_of "$table")
  consume "$topic" $((rows[$table] + 100)) >"$TRIBUTARY_RUN/$table.jsonl"
done
printf '  first snapshot messages of %s:\n' "$(topic_of orders)"
head -n 2 "$TRIBUTARY_RUN/orders.jsonl" | show_messages
printf '  live changes in %s:\n' "$(topic_of orders)"
tail -n 6 "$TRIBUTARY_RUN/orders.jsonl" | show_messages
printf '  live changes in %s:\n' "$(topic_of customers)"
tail -n 1 "$TRIBUTARY_RUN/customers.jsonl" | show_messages

step "summary"
for table in "${tables[@]}"; do
  now=$(pg_psql demo -d shop -Atc "SELECT count(*) FROM public.$table")
  printf '  public.%-10s rows at snapshot %6s, now %6s | topic %-21s %6s messages (%s)\n' \
    "$table" "${rows[$table]}" "$now" "$(topic_of "$table")" \
    "$(wc -l <"$TRIBUTARY_RUN/$table.jsonl")" "$(count_ops <"$TRIBUTARY_RUN/$table.jsonl")"
done

step "stopping"
stop_task || die "tributary did not exit cleanly after SIGTERM; see $task_log"
printf '\ndemo finished; files in %s\n' "$TRIBUTARY_RUN" >&2
