# Sourced by the integration tests that run the system the way operators start
# it: logs with elapsed time, a failure that shows the logs' tails, cleanup of
# every process started (also on failure), free loopback ports, a token file,
# align-coordinator, and 2-rank worker groups under mpirun.
#
# The caller sets coordinator_bin, worker_bin and work (an empty directory it
# has cd'ed into) before sourcing; start_coordinator needs ALIGN_COORDINATOR
# and metrics_port, submit_dpo needs alignctl and model.

start_time=$SECONDS
say() { echo "[$((SECONDS - start_time))s] $*"; }

coordinator_pid=
prometheus_pid=
mpirun_pid=
worker_pgid=
worker_name=
workers=0

stop_workers() {
  if [[ -n "$worker_pgid" ]]; then
    kill -9 -- "-$worker_pgid" 2>/dev/null || true
    # Reaped here, quietly: bash would otherwise report the SIGKILL.
    wait "$mpirun_pid" 2>/dev/null || true
    worker_pgid=
  fi
  if [[ -n "$worker_name" ]]; then
    # Ranks that outlive their mpirun (ours only: the group name is unique).
    for _ in $(seq 1 50); do
      pids=$(pgrep -f -- "--group-name $worker_name" || true)
      [[ -z "$pids" ]] && break
      kill -9 $pids 2>/dev/null || true
      sleep 0.1
    done
    worker_name=
  fi
}

cleanup() {
  stop_workers
  [[ -n "$coordinator_pid" ]] && kill -9 "$coordinator_pid" 2>/dev/null || true
  [[ -n "$prometheus_pid" ]] && kill "$prometheus_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in coordinator.log worker-*.log prometheus.log; do
    [[ -f "$log" ]] || continue
    echo "--- $log (tail) ---" >&2
    tail -n 40 "$log" >&2
  done
  exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# write_tokens PREFIX: a client and a worker token in $work/tokens, for
# alignctl (ALIGN_TOKEN_FILE) and the workers.
write_tokens() {
  printf 'client:%s-client-token-123\nworker:%s-worker-token-456\n' "$1" "$1" > "$work/tokens"
  chmod 600 "$work/tokens"
  export ALIGN_TOKEN_FILE=$work/tokens
}

# start_coordinator STARTS [FLAGS...]: (re)starts align-coordinator on
# $ALIGN_COORDINATOR with its state in $work/state; returns once
# coordinator.log shows STARTS starts in all (2 after one restart).
start_coordinator() {
  local starts=$1
  shift
  "$coordinator_bin" --listen "$ALIGN_COORDINATOR" --state "$work/state" --token-file "$work/tokens" \
    --metrics-listen "127.0.0.1:$metrics_port" "$@" 2>> coordinator.log &
  coordinator_pid=$!
  for _ in $(seq 1 100); do
    if [[ $(grep -c 'listening on' coordinator.log) -ge $starts ]]; then return; fi
    kill -0 "$coordinator_pid" 2>/dev/null || fail "align-coordinator exited at start"
    sleep 0.1
  done
  fail "align-coordinator did not start"
}

# start_workers: a new 2-rank worker group in its own session (so one kill
# reaches mpirun and its ranks), logging to worker-<n>.log.
start_workers() {
  workers=$((workers + 1))
  worker_name=it-group-$$-$workers
  setsid mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
    "$worker_bin" --coordinator "$ALIGN_COORDINATOR" --token-file "$work/tokens" --group-name "$worker_name" \
    > "worker-$workers.log" 2>&1 &
  mpirun_pid=$!
  worker_pgid=$(ps -o pgid= -p "$mpirun_pid" | tr -d ' ')
  [[ -n "$worker_pgid" ]] || fail "mpirun did not start"
}

# submit_dpo NAME STEPS CHECKPOINT_EVERY EVAL_EVERY [EXTRA_YAML]: a small DPO
# job on $model and ./data (make-synthetic), submitted; prints the job id.
submit_dpo() {
  cat > "$1.yaml" <<YAML
name: $1
type: train
model: $model
dataset: data
output: runs/$1
loss: {type: dpo, beta: 5}
optim: {name: adamw, lr: 1.0e-3, weight_decay: 0.0}
batch: {pairs_per_rank: 2, grad_accum: 1}
steps: $2
checkpoint_every: $3
eval_every: $4
seed: 7
device: cpu
${5:-}
YAML
  "$alignctl" submit "$1.yaml" | tail -n 1
}
