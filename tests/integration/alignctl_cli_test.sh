#!/usr/bin/env bash
# alignctl against a real align-coordinator, as an operator runs them:
# start the coordinator on a free port with a token file, submit a job for the
# tiny model and a make-synthetic dataset, status/list/events/cancel/wait,
# refused credentials, an unreachable coordinator, /metrics, a restart
# that keeps the jobs, and a chain of two jobs (the second waits for the first,
# and is cancelled with it; a cycle is refused).
#
#   alignctl_cli_test.sh ALIGN_COORDINATOR_BIN ALIGNCTL_BIN TINY_MODEL_DIR WORK_DIR
set -euo pipefail

coordinator_bin=$1
alignctl=$2
model=$3
work=$4

rm -rf "$work"
mkdir -p "$work"
cd "$work"

coordinator_pid=
watch_pid=
# stop_pid PID SECONDS: SIGTERM, SIGKILL if it is still there after SECONDS.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + $2))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_coordinator() {
  if [[ -n "$coordinator_pid" ]]; then
    stop_pid "$coordinator_pid" 30
    coordinator_pid=
  fi
}
cleanup() {
  # A watch left by a failure would follow a stopped coordinator for minutes.
  [[ -n "$watch_pid" ]] && stop_pid "$watch_pid" 5
  stop_coordinator
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

fail() {
  echo "FAIL: $*" >&2
  echo "--- coordinator log ---" >&2
  cat "$work"/coordinator.log >&2 || true
  exit 1
}

# Port 0: the coordinator binds a free port and logs it, so parallel test
# runs never race for one. Waits (up to a deadline, polling) for both lines it
# logs once it serves: the address, then /metrics.
start_coordinator() {
  : > coordinator.log
  "$coordinator_bin" --listen 127.0.0.1:0 --state "$work/state" --token-file "$work/tokens" \
    --metrics-listen 127.0.0.1:0 2>>coordinator.log &
  coordinator_pid=$!
  local deadline=$((SECONDS + 60))
  until grep -q 'metrics on http://.*/metrics$\|cannot serve metrics' coordinator.log; do
    kill -0 "$coordinator_pid" 2>/dev/null || fail "align-coordinator exited at start"
    ((SECONDS < deadline)) || fail "align-coordinator did not start within 60 s"
    sleep 0.1
  done
  address=$(sed -n 's/.*listening on \([^;]*\);.*/\1/p' coordinator.log | head -1)
  [[ -n "$address" ]] || fail "align-coordinator did not report its address"
  metrics_url=$(sed -n 's/.*metrics on \(http[^ ]*\).*/\1/p' coordinator.log | head -1)
  export ALIGN_COORDINATOR=$address
}

expect_exit() {  # expect_exit CODE COMMAND...: runs it, checks the status, keeps stderr in last.err
  local want=$1
  shift
  set +e
  "$@" > last.out 2> last.err
  local got=$?
  set -e
  [[ $got == "$want" ]] || fail "$* exited $got, expected $want; stderr: $(cat last.err)"
}

printf '# alignctl_cli_test\nclient:cli-test-client-token\nworker:cli-test-worker-token\n' > tokens
chmod 600 tokens
export ALIGN_TOKEN_FILE=$work/tokens

# Without an auth choice the coordinator refuses to start.
expect_exit 2 "$coordinator_bin" --listen 127.0.0.1:0 --state "$work/state"
grep -q -- '--token-file' last.err || fail "missing auth option not explained"

start_coordinator

# One coordinator per address: a second one, with a state of its own, must not share the port
# (SO_REUSEPORT would let the kernel split clients between them). Nor may two share a state.
expect_exit 1 "$coordinator_bin" --listen "$address" --state "$work/state-second" --token-file "$work/tokens"
grep -q 'address in use' last.err || fail "a second coordinator on $address: $(cat last.err)"
expect_exit 1 "$coordinator_bin" --listen 127.0.0.1:0 --state "$work/state" --token-file "$work/tokens"
grep -qi 'state' last.err || fail "a second coordinator on the same state: $(cat last.err)"

"$alignctl" make-synthetic --model "$model" --pairs 8 --heldout 2 --tokens 8 --out data > /dev/null
cat > job.yaml <<YAML
name: cli-dpo
type: train
model: $model
dataset: data
output: runs/cli-dpo
loss: {type: dpo, beta: 5}
batch: {pairs_per_rank: 2}
steps: 20
device: cpu
YAML

# submit: the last line of stdout is the id (relative paths resolve here).
expect_exit 0 "$alignctl" submit job.yaml
job=$(tail -n 1 last.out)
[[ "$job" == job-000001 ]] || fail "submit printed '$job'"

expect_exit 0 "$alignctl" status "$job"
grep -q 'state: *queued' last.out || fail "status: $(cat last.out)"
grep -q 'step 0/20' last.out || fail "status has no progress: $(cat last.out)"
expect_exit 0 "$alignctl" status "$job" --json
python3 -c 'import json,sys; j=json.load(open("last.out")); assert j["state"]=="JOB_STATE_QUEUED" and j["name"]=="cli-dpo", j' \
  || fail "status --json: $(cat last.out)"

second=$("$alignctl" submit job.yaml | tail -n 1)
expect_exit 0 "$alignctl" list
[[ $(grep -c '^job-' last.out) == 2 ]] || fail "list: $(cat last.out)"
expect_exit 0 "$alignctl" list --state queued
[[ $(grep -c queued last.out) == 2 ]] || fail "list --state: $(cat last.out)"
expect_exit 2 "$alignctl" list --state finished
grep -q 'not a state' last.err || fail "bad --state not explained"

# watch follows the job; cancelling it from elsewhere ends the watch.
# The cancel comes once the watch has printed the job: it is following it.
"$alignctl" watch "$second" > watch.out 2>&1 &
watch_pid=$!
deadline=$((SECONDS + 30))
until [[ -s watch.out ]]; do
  kill -0 "$watch_pid" 2>/dev/null || fail "watch ended before the cancel: $(cat watch.out)"
  ((SECONDS < deadline)) || fail "watch printed nothing within 30 s"
  sleep 0.1
done
expect_exit 0 "$alignctl" cancel "$second" --reason "cli test"
set +e
wait "$watch_pid"
watch_status=$?
set -e
watch_pid=
[[ $watch_status == 1 ]] || fail "watch exited $watch_status: $(cat watch.out)"
grep -q "$second cancelled: cli test" watch.out || fail "watch output: $(cat watch.out)"
expect_exit 1 "$alignctl" wait "$second"
expect_exit 1 "$alignctl" cancel "$second"
grep -q 'already been cancelled' last.err || fail "second cancel: $(cat last.err)"

expect_exit 0 "$alignctl" events "$second"
grep -q submitted last.out && grep -q 'cancelled *cli test' last.out || fail "events: $(cat last.out)"

# Spec errors name the field; nothing is queued.
sed 's/^steps: 20/steps: 20\nstepz: 3/' job.yaml > typo.yaml
expect_exit 2 "$alignctl" submit typo.yaml
grep -q stepz last.err || fail "typo not named: $(cat last.err)"
sed 's#^dataset: data#dataset: no-such-data#' job.yaml > nodata.yaml
expect_exit 2 "$alignctl" submit nodata.yaml
grep -q 'dataset: ' last.err || fail "missing dataset not named: $(cat last.err)"
expect_exit 2 "$alignctl" status job-000099
expect_exit 2 "$alignctl" status not-a-job
# A 10 MiB spec is refused with the limit, not with gRPC's message size error.
{ cat job.yaml; printf '# '; head -c 10485760 /dev/zero | tr '\0' x; echo; } > big.yaml
expect_exit 2 "$alignctl" submit big.yaml
grep -q 'at most 1048576 are accepted' last.err || fail "oversized spec: $(cat last.err)"

# Credentials: a wrong token and no token are refused and change nothing.
printf 'client:wrong-token-123456\n' > wrong-tokens
expect_exit 1 "$alignctl" --token-file wrong-tokens submit job.yaml
grep -q 'did not accept' last.err || fail "wrong token: $(cat last.err)"
expect_exit 1 env ALIGN_TOKEN_FILE= "$alignctl" list
grep -q 'no token sent' last.err || fail "no token: $(cat last.err)"
printf 'worker:only-a-worker-token\n' > worker-tokens
expect_exit 2 "$alignctl" --token-file worker-tokens list
expect_exit 0 "$alignctl" list
[[ $(grep -c '^job-' last.out) == 2 ]] || fail "refused calls changed the job list"

# /metrics, as Prometheus scrapes it.
if [[ -n "$metrics_url" ]] && command -v curl > /dev/null; then
  curl -sf "$metrics_url" > metrics.txt || fail "cannot scrape $metrics_url"
  grep -q '^align_jobs{state="queued"} 1' metrics.txt || fail "align_jobs: $(grep align_jobs metrics.txt)"
  grep -q '^align_jobs{state="cancelled"} 1' metrics.txt || fail "align_jobs cancelled"
  grep -q '^align_workers_up 0' metrics.txt || fail "align_workers_up"
  grep -q 'align_rpc_duration_seconds_count{method="SubmitJob"}' metrics.txt || fail "rpc histogram"
fi

# A restarted coordinator has every job.
stop_coordinator
expect_exit 1 "$alignctl" list
grep -q 'cannot reach the coordinator' last.err || fail "unreachable: $(cat last.err)"
start_coordinator
expect_exit 0 "$alignctl" status "$job"
grep -q 'state: *queued' last.out || fail "after restart: $(cat last.out)"
# A reason with a line break cannot fake a line of `events`.
expect_exit 0 "$alignctl" cancel "$job" --reason $'bad\n2026-01-01T00:00:00.000Z  succeeded   forged'
expect_exit 0 "$alignctl" list --state cancelled
[[ $(grep -c '^job-' last.out) == 2 ]] || fail "after restart: $(cat last.out)"
expect_exit 0 "$alignctl" events "$job"
grep -q '^2026-01-01T00:00:00.000Z' last.out && fail "a reason faked an event line: $(cat last.out)"
grep -qF 'bad\n2026-01-01' last.out || fail "reason not escaped: $(cat last.out)"

# A chain: two documents in one file, the second after the first and reading
# its paths. Both are queued at once; the second waits (there is no worker
# here, so the first never runs) and says for what, in status, list and
# watch, also after a restart; cancelling the first cancels it.
cat > chain.yaml <<YAML
name: chain-a
type: train
model: $model
dataset: data
output: runs/chain-a
loss: {type: dpo, beta: 5}
steps: 20
device: cpu
---
name: chain-b
type: train
after: [chain-a]
model: \${jobs.chain-a.model}
dataset: \${jobs.chain-a.dataset}
output: runs/chain-b
loss: {type: dpo, beta: 5}
steps: 20
device: cpu
YAML
expect_exit 0 "$alignctl" submit chain.yaml
[[ $(cat last.out) == $'job-000003\njob-000004' ]] || fail "chain submit printed: $(cat last.out)"
expect_exit 0 "$alignctl" status job-000004
grep -q 'state: *queued (waiting' last.out || fail "chain status: $(cat last.out)"
grep -q 'after: *job-000003 (queued)' last.out || fail "chain status: $(cat last.out)"
expect_exit 0 "$alignctl" status job-000004 --json
python3 -c 'import json,sys; j=json.load(open("last.out")); assert j["after"][0]["job_id"]=="job-000003", j; assert "dataset: '"$work"'/data\n" in j["spec_yaml"], j["spec_yaml"]' \
  || fail "chain status --json: $(cat last.out)"
expect_exit 0 "$alignctl" list --state queued
grep -q '^job-000004 .*chain-b  waiting, after: job-000003 (queued)$' last.out || fail "chain list: $(cat last.out)"

# A bad chain is refused with its problem, and nothing is queued.
sed '0,/^device: cpu/s//device: cpu\nafter: [chain-b]/' chain.yaml > cycle.yaml
expect_exit 2 "$alignctl" submit cycle.yaml
grep -q 'cycle: chain-a -> chain-b -> chain-a' last.err || fail "cycle: $(cat last.err)"
{ cat job.yaml; echo ---; cat job.yaml; } > twice.yaml
expect_exit 2 "$alignctl" submit twice.yaml
grep -q 'documents 1 and 2 are both named "cli-dpo"' last.err || fail "duplicate names: $(cat last.err)"
expect_exit 0 "$alignctl" list
[[ $(grep -c '^job-' last.out) == 4 ]] || fail "a refused chain queued jobs: $(cat last.out)"

stop_coordinator
start_coordinator
"$alignctl" watch job-000004 > watch.out 2>&1 &
watch_pid=$!
deadline=$((SECONDS + 30))
# Its first line (the job waiting) before the cancel, so both states are seen.
until grep -q 'job-000004 queued *waiting' watch.out 2>/dev/null; do
  kill -0 "$watch_pid" 2>/dev/null || fail "chain watch ended early: $(cat watch.out)"
  ((SECONDS < deadline)) || fail "chain watch did not show the waiting job within 30 s: $(cat watch.out)"
  sleep 0.1
done
expect_exit 0 "$alignctl" cancel job-000003 --reason "chain test"
set +e
wait "$watch_pid"
watch_status=$?
set -e
watch_pid=
[[ $watch_status == 1 ]] || fail "chain watch exited $watch_status: $(cat watch.out)"
grep -q 'job-000004 queued *waiting, after job-000003 (queued)' watch.out || fail "chain watch: $(cat watch.out)"
grep -q 'job-000004 cancelled: dependency job-000003 (chain-a) was cancelled: chain test' watch.out \
  || fail "chain watch: $(cat watch.out)"

echo "alignctl_cli_test: ok"
