#!/usr/bin/env bash
# A local three-worker cluster from cluster-config/node-{1,2,3}.toml, as background processes.
#   scripts/cluster.sh start    builds the release binary if missing, starts the three workers
#                               and waits until each admin port (127.0.0.1:7101-7103) accepts
#   scripts/cluster.sh status   each worker's PID and whether it runs, then `tributary ctl
#                               cluster status` from the first worker that answers
#   scripts/cluster.sh stop     SIGTERM, a bounded wait, then SIGKILL for what is left
# Logs: $TRIBUTARY_CLUSTER_DIR/logs/node-N.log; PID files: $TRIBUTARY_CLUSTER_DIR/pids/.
# Data: each node file's data_dir (/tmp/tributary-cluster/node-N); edit the files to move it.
# Environment (all optional):
#   TRIBUTARY_CLUSTER_DIR   logs and PID files (default /tmp/tributary-cluster)
#   TRIBUTARY_BIN           the tributary binary (default: the release build, built if missing)
#   TRIBUTARY_WAIT_SECS     how long start and stop wait (default 30)
#   TRIBUTARY_TOKEN         passed on to `tributary ctl` by status
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${TRIBUTARY_CLUSTER_DIR:-/tmp/tributary-cluster}
wait_secs=${TRIBUTARY_WAIT_SECS:-30}
nodes=(1 2 3)

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
log() { printf '==> %s\n' "$*" >&2; }

binary() {
  if [[ -n ${TRIBUTARY_BIN:-} ]]; then
    [[ -x $TRIBUTARY_BIN ]] || die "TRIBUTARY_BIN=$TRIBUTARY_BIN is not an executable: build it or unset TRIBUTARY_BIN"
    printf '%s\n' "$TRIBUTARY_BIN"
    return
  fi
  local bin="${CARGO_TARGET_DIR:-target}/release/tributary"
  if [[ ! -x $bin ]]; then
    log "building $bin (cargo build --release)"
    cargo build --release --bin tributary >&2 || die "the release build failed: see cargo's output above"
  fi
  printf '%s\n' "$bin"
}

pid_file() { printf '%s/pids/node-%s.pid\n' "$dir" "$1"; }

# The PID of node N when it runs, else nothing.
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    printf '%s\n' "$pid"
  fi
}

admin_port() { printf '%s\n' "$((7100 + $1))"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bin n pid log_file
  bin=$(binary)
  mkdir -p "$dir/logs" "$dir/pids"
  for n in "${nodes[@]}"; do
    if pid=$(running_pid "$n") && [[ -n $pid ]]; then
      log "node $n already runs (pid $pid)"
      continue
    fi
    if port_open "$(admin_port "$n")"; then
      die "port $(admin_port "$n") is taken by another process: stop it, or stop the cluster it belongs to"
    fi
    log_file="$dir/logs/node-$n.log"
    nohup "$bin" worker --config "cluster-config/node-$n.toml" >>"$log_file" 2>&1 &
    echo $! >"$(pid_file "$n")"
    log "node $n started (pid $!), log $log_file"
  done
  wait_ready
  log "cluster up: tributary ctl --server 127.0.0.1:7101 cluster status"
}

# Waits (bounded) until every node's admin port accepts connections; names the ones that do not.
wait_ready() {
  local deadline=$((SECONDS + wait_secs)) n pending
  while :; do
    pending=()
    for n in "${nodes[@]}"; do
      if [[ -z $(running_pid "$n") ]]; then
        die "node $n exited during start: see $dir/logs/node-$n.log (\`scripts/cluster.sh stop\` stops the others)"
      fi
      port_open "$(admin_port "$n")" || pending+=("$n")
    done
    [[ ${#pending[@]} -eq 0 ]] && return 0
    if ((SECONDS >= deadline)); then
      die "admin port not open after ${wait_secs}s on node(s) ${pending[*]}: see $dir/logs/node-${pending[0]}.log (\`scripts/cluster.sh stop\` stops the cluster)"
    fi
    sleep 0.2
  done
}

status() {
  local n pid server=""
  for n in "${nodes[@]}"; do
    pid=$(running_pid "$n")
    if [[ -n $pid ]]; then
      printf 'node %s: pid %s, running, admin 127.0.0.1:%s\n' "$n" "$pid" "$(admin_port "$n")"
      [[ -n $server ]] || server="127.0.0.1:$(admin_port "$n")"
    else
      printf 'node %s: not running (log %s/logs/node-%s.log)\n' "$n" "$dir" "$n"
    fi
  done
  [[ -n $server ]] || return 1
  echo
  "$(binary)" ctl --server "$server" cluster status
}

stop() {
  local n pid pids=() deadline
  for n in "${nodes[@]}"; do
    pid=$(running_pid "$n")
    if [[ -n $pid ]]; then
      kill -TERM "$pid"
      pids+=("$pid")
      log "node $n: SIGTERM sent (pid $pid)"
    fi
    rm -f "$(pid_file "$n")"
  done
  deadline=$((SECONDS + wait_secs))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still runs after ${wait_secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  log "cluster stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    printf 'usage: %s start|stop|status\n' "$0" >&2
    exit 2
    ;;
esac
