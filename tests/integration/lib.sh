# Sourced by the integration tests that run the system the way operators start
# it: logs with elapsed time, a failure that shows the logs' tails, cleanup of
# every process started (also on failure or when the test is interrupted),
# waits with deadlines, a token file, align-coordinator on ports it binds
# itself, Prometheus, and 2-rank worker groups under mpirun.
#
# The caller sets coordinator_bin, worker_bin and work (an empty directory it
# has cd'ed into) before sourcing; submit_dpo needs alignctl and model,
# start_prometheus needs prometheus_bin.
#
# Rules these helpers keep, because a busy machine breaks tests that do not:
# - nothing waits a fixed time: every wait polls for the condition it needs,
#   up to a deadline in seconds (SECONDS), not a count of tries, since each
#   try itself slows down under load;
# - a command's output is captured before it is searched: `cmd | grep -q`
#   under pipefail fails whenever grep exits at the match before cmd has
#   written everything (cmd then dies of SIGPIPE or exits with a write error);
# - servers bind port 0 and the test reads the port they bound from their
#   logs: a port picked free beforehand can be taken by anything meanwhile.

start_time=$SECONDS
say() { echo "[$((SECONDS - start_time))s] $*"; }

coordinator_pid=
coordinator_starts=0
metrics_port=
metrics_url=
prometheus_pid=
prometheus_port=
mpirun_pid=
worker_pgid=
worker_name=
workers=0

fail() {
  echo "FAIL: $*" >&2
  for log in coordinator.log worker-*.log prometheus.log; do
    [[ -f "$log" ]] || continue
    echo "--- $log (tail) ---" >&2
    tail -n 40 "$log" >&2
  done
  exit 1
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails the test with "WHAT within SECONDS s" at the deadline.
wait_until() {
  local seconds=$1 what=$2
  local deadline=$((SECONDS + seconds))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what within $seconds s"
    sleep 0.2
  done
}

# output_matches PATTERN COMMAND...: COMMAND succeeds and its stdout has a line
# matching the extended regular expression PATTERN.
output_matches() {
  local pattern=$1 out
  shift
  out=$("$@") || return 1
  grep -Eq -- "$pattern" <<< "$out"
}

# stop_pid PID SECONDS: SIGTERM, SIGKILL if it is still there after SECONDS,
# then reaped (our own child) or waited for until it is gone.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + $2))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The ranks of our current group: the group name is unique to this test run
# and is the last word of every rank's (and mpirun's) command line.
our_ranks() { pgrep -f -- "--group-name $worker_name\$" || true; }

stop_workers() {
  if [[ -n "$worker_pgid" ]]; then
    # mpirun puts each rank in a process group of its own, but all stay in
    # the session setsid gave mpirun: kill that whole session.
    # Quietly: bash reports a SIGKILLed child on stderr when it reaps it.
    {
      pkill -KILL -s "$worker_pgid" || true
      kill -9 -- "-$worker_pgid" || true
      wait "$mpirun_pid" || true
    } 2>/dev/null
    worker_pgid=
  fi
  if [[ -n "$worker_name" ]]; then
    # A rank that left the session still carries the group name; it must be
    # gone before the test goes on.
    local deadline=$((SECONDS + 30)) pids
    while pids=$(our_ranks) && [[ -n "$pids" ]]; do
      if ((SECONDS >= deadline)); then
        echo "worker ranks $pids of $worker_name survived SIGKILL for 30 s" >&2
        break
      fi
      kill -9 $pids 2>/dev/null || true
      sleep 0.1
    done
    worker_name=
  fi
}

# Helper loops a test runs in the background (cleanup stops them before it
# waits for the remaining children).
background_pids=()

cleanup() {
  local pid
  for pid in "${background_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_workers
  if [[ -n "$coordinator_pid" ]]; then
    { kill -9 "$coordinator_pid" || true; wait "$coordinator_pid" || true; } 2>/dev/null
  fi
  [[ -n "$prometheus_pid" ]] && stop_pid "$prometheus_pid" 10
  wait 2>/dev/null || true
}
trap cleanup EXIT
# Interrupted (a CTest timeout, Ctrl-C): still clean up, through the EXIT trap.
trap 'exit 143' TERM
trap 'exit 130' INT

# write_tokens PREFIX: a client and a worker token in $work/tokens, for
# alignctl (ALIGN_TOKEN_FILE) and the workers.
write_tokens() {
  printf 'client:%s-client-token-123\nworker:%s-worker-token-456\n' "$1" "$1" > "$work/tokens"
  chmod 600 "$work/tokens"
  export ALIGN_TOKEN_FILE=$work/tokens
}

# The Nth start's "listening on ADDR;" / "metrics on URL" in coordinator.log.
nth_log_value() {  # nth_log_value N SED_EXPRESSION
  sed -n "$2" coordinator.log | sed -n "$1p"
}

# start_coordinator [FLAGS...]: (re)starts align-coordinator with its state in
# $work/state and /metrics on a port it picks (sets metrics_port and
# metrics_url); returns once it serves. The first start also picks its gRPC
# port and exports ALIGN_COORDINATOR; a restart listens on that same address,
# where the workers reconnect.
start_coordinator() {
  coordinator_starts=$((coordinator_starts + 1))
  local listen=127.0.0.1:0
  ((coordinator_starts == 1)) || listen=$ALIGN_COORDINATOR
  "$coordinator_bin" --listen "$listen" --state "$work/state" --token-file "$work/tokens" \
    --metrics-listen 127.0.0.1:0 "$@" 2>> coordinator.log &
  coordinator_pid=$!
  local deadline=$((SECONDS + 60)) address= url=
  # Both lines, whole: the log is read while the coordinator writes it.
  while [[ -z "$address" || -z "$url" ]]; do
    kill -0 "$coordinator_pid" 2>/dev/null || fail "align-coordinator exited at start"
    ((SECONDS < deadline)) || fail "align-coordinator did not start within 60 s"
    sleep 0.1
    address=$(nth_log_value "$coordinator_starts" 's/.* listening on \([^ ;]*\); .*/\1/p')
    url=$(nth_log_value "$coordinator_starts" 's|.* metrics on \(http://[^ ]*/metrics\)$|\1|p')
    if [[ -n "$address" ]] && grep -q 'cannot serve metrics' coordinator.log; then
      fail "align-coordinator cannot serve /metrics"
    fi
  done
  export ALIGN_COORDINATOR=$address
  metrics_url=$url
  metrics_port=$(sed 's|.*:\([0-9]*\)/metrics$|\1|' <<< "$url")
}

# metrics_have PATTERN: the coordinator's /metrics, read once, has a line
# matching PATTERN (an extended regular expression).
metrics_have() { output_matches "$1" curl -sf "$metrics_url"; }

# start_prometheus CONFIG: Prometheus on a free port (sets prometheus_port),
# returns once it serves. Prometheus cannot report a port it picked, so the
# port is chosen here; when something else takes it first, Prometheus exits
# and another port is tried. Its own log line says it serves: a response on
# the port could come from whoever took it.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_prometheus() {
  local attempt deadline
  for attempt in 1 2 3 4 5; do
    prometheus_port=$(free_port)
    "$prometheus_bin" --config.file="$1" --storage.tsdb.path="$work/prometheus-data" \
      --web.listen-address="127.0.0.1:$prometheus_port" > prometheus.log 2>&1 &
    prometheus_pid=$!
    deadline=$((SECONDS + 60))
    while kill -0 "$prometheus_pid" 2>/dev/null && ((SECONDS < deadline)); do
      grep -qs 'Server is ready to receive web requests' prometheus.log && return 0
      sleep 0.2
    done
    kill -0 "$prometheus_pid" 2>/dev/null && fail "Prometheus did not get ready within 60 s"
    wait "$prometheus_pid" 2>/dev/null || true
    prometheus_pid=
    grep -qs 'address already in use' prometheus.log || fail "Prometheus exited at start"
  done
  fail "Prometheus found no free port in 5 tries"
}

# start_workers: a new 2-rank worker group in a session of its own (so one
# kill reaches mpirun and its ranks), logging to worker-<n>.log.
start_workers() {
  workers=$((workers + 1))
  worker_name=it-group-$$-$workers
  setsid mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
    "$worker_bin" --coordinator "$ALIGN_COORDINATOR" --token-file "$work/tokens" --group-name "$worker_name" \
    > "worker-$workers.log" 2>&1 &
  mpirun_pid=$!
  # Until the child has run setsid, its process group and session are still
  # this shell's: killing those would kill the test itself.
  local deadline=$((SECONDS + 10))
  until [[ "$(ps -o pgid= -p "$mpirun_pid" | tr -d ' ')" == "$mpirun_pid" ]]; do
    kill -0 "$mpirun_pid" 2>/dev/null || fail "mpirun exited at start: $(cat "worker-$workers.log")"
    ((SECONDS < deadline)) || fail "mpirun did not start a session of its own within 10 s"
    sleep 0.05
  done
  worker_pgid=$mpirun_pid
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
