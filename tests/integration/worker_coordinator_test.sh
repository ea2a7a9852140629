#!/usr/bin/env bash
# The whole system as operators start it: a real align-coordinator (token file,
# --state in a temp dir, /metrics), a real Prometheus server scraping it, a
# 2-rank worker group (`mpirun -np 2 align-worker --coordinator ADDR`), and
# alignctl. Then the faults:
#   1. a DPO job on make-synthetic data succeeds; Prometheus has align_train_loss;
#   2. the worker group is SIGKILLed after a checkpoint; a new group resumes the
#      job from that checkpoint and it succeeds;
#   3. the coordinator is SIGKILLed mid-job and restarted on the same --state:
#      every job and its progress is there, the workers reconnect, and the
#      running job completes.
# Nothing is lost or duplicated: every job's metrics.jsonl has each step once,
# events are in the expected order, and each job succeeded exactly once.
#
#   worker_coordinator_test.sh COORDINATOR_BIN ALIGNCTL_BIN WORKER_BIN TINY_MODEL_DIR WORK_DIR
set -euo pipefail
lib="$(cd "$(dirname "$0")" && pwd)/lib.sh"

coordinator_bin=$1
alignctl=$2
worker_bin=$3
model=$4
work=$5
prometheus_bin=${PROMETHEUS_BIN:-/usr/bin/prometheus}

rm -rf "$work"
mkdir -p "$work"
cd "$work"
source "$lib"

grpc_port=$(free_port)
metrics_port=$(free_port)
prometheus_port=$(free_port)
export ALIGN_COORDINATOR=127.0.0.1:$grpc_port
write_tokens it

job_field() {  # job_field ID FIELD: a top-level field of `alignctl status --json`
  "$alignctl" status "$1" --json | python3 -c "import json,sys; j=json.load(sys.stdin); print(j.get('$2', ''))"
}

wait_for_event() {  # wait_for_event ID PATTERN TIMEOUT_S
  for _ in $(seq 1 $(($3 * 5))); do
    if "$alignctl" events "$1" 2>/dev/null | grep -q -- "$2"; then return; fi
    sleep 0.2
  done
  fail "$1: no event matching '$2' within $3 s: $("$alignctl" events "$1" 2>&1)"
}

submit() { submit_dpo "$1" "$2" 4 5; }  # submit NAME STEPS: prints the job id

# Each optimizer step appears once in metrics.jsonl, 1..STEPS.
check_steps() {  # check_steps NAME STEPS
  python3 - "runs/$1/metrics.jsonl" "$2" <<'PY' || fail "$1: metrics.jsonl steps are wrong"
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if '"implicit_accuracy"' in l and "heldout" not in l]
want = list(range(1, int(sys.argv[2]) + 1))
if steps != want:
    sys.exit(f"steps {steps}, want {want}")
PY
}

check_events() {  # check_events ID KIND... : the job's event kinds, in order
  local id=$1
  shift
  local got
  got=$("$alignctl" events "$id" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')
  [[ "$got" == "$*" ]] || fail "$id events: '$got', want '$*'"
}

# ---- setup: data, coordinator, Prometheus, a worker group -------------------
"$alignctl" make-synthetic --model "$model" --pairs 64 --heldout 16 --tokens 8 --out data > /dev/null
start_coordinator 1 --worker-timeout 10s
cat > prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: align-coordinator
    honor_labels: true  # keep the coordinator's job="job-..." label (docs/operations.md)
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
"$prometheus_bin" --config.file=prometheus.yml --storage.tsdb.path="$work/prometheus-data" \
  --web.listen-address="127.0.0.1:$prometheus_port" > prometheus.log 2>&1 &
prometheus_pid=$!
start_workers
say "coordinator on $ALIGN_COORDINATOR, metrics :$metrics_port, prometheus :$prometheus_port"

# ---- 1. a job runs to the end; Prometheus scrapes its metrics ---------------
first=$(submit first 10)
[[ "$first" == job-000001 ]] || fail "submit printed '$first'"
timeout 300 "$alignctl" wait "$first" > wait-first.out || fail "$first did not succeed: $(cat wait-first.out)"
say "$first succeeded"
check_steps first 10
check_events "$first" submitted started checkpoint checkpoint checkpoint succeeded
for step in 4 8 10; do [[ -d runs/first/checkpoint-$step/unet ]] || fail "no checkpoint-$step"; done

query="http://127.0.0.1:$prometheus_port/api/v1/query?query=align_train_loss"
found=
for _ in $(seq 1 120); do
  if curl -sf "$query" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if any(x["metric"].get("job") == "job-000001" for x in r) else 1)' 2>/dev/null; then
    found=1
    break
  fi
  sleep 0.5
done
[[ -n "$found" ]] || fail "Prometheus has no align_train_loss{job=\"job-000001\"}: $(curl -s "$query")"
for metric in align_train_implicit_accuracy align_train_step align_step_duration_seconds_count align_workers_up; do
  curl -sf "http://127.0.0.1:$prometheus_port/api/v1/query?query=$metric" | grep -q '"result":\[{' \
    || fail "Prometheus has no $metric"
done
say "Prometheus scraped align_train_loss"

# ---- 2. SIGKILL the worker group after a checkpoint -------------------------
second=$(submit second 12)
wait_for_event "$second" "checkpoint at step 4" 120
stop_workers
say "killed the worker group during $second"
for _ in $(seq 1 100); do
  [[ $(job_field "$second" state) == JOB_STATE_QUEUED ]] && break
  sleep 0.2
done
[[ $(job_field "$second" state) == JOB_STATE_QUEUED ]] || fail "$second was not requeued: $("$alignctl" status "$second")"
start_workers
timeout 300 "$alignctl" wait "$second" > wait-second.out || fail "$second did not succeed: $(cat wait-second.out)"
say "$second resumed and succeeded"
"$alignctl" events "$second" | grep -q "attempt 2), resuming from step [48]" || fail "$second did not resume from its checkpoint"
check_steps second 12
"$alignctl" events "$second" | grep -q 'interrupted .*lost' || fail "$second was not interrupted"
[[ $(job_field "$second" attempts) == 2 ]] || fail "$second attempts: $(job_field "$second" attempts)"

# ---- 3. SIGKILL the coordinator mid-job, restart it on the same state -------
third=$(submit third 12)
wait_for_event "$third" "checkpoint at step 4" 120
kill -9 "$coordinator_pid"
wait "$coordinator_pid" 2>/dev/null || true
say "killed the coordinator during $third"
sleep 1
start_coordinator 2 --worker-timeout 10s
# Every job is there, with its progress.
[[ $(job_field "$first" state) == JOB_STATE_SUCCEEDED ]] || fail "$first lost its state"
[[ $(job_field "$second" state) == JOB_STATE_SUCCEEDED ]] || fail "$second lost its state"
"$alignctl" status "$first" | grep -q 'step 10/10' || fail "$first lost its progress: $("$alignctl" status "$first")"
"$alignctl" status "$third" | grep -Eq 'step ([4-9]|1[0-2])/12' || fail "$third lost its progress: $("$alignctl" status "$third")"
"$alignctl" events "$third" | grep -q "the coordinator restarted" || fail "$third was not requeued at restart"
[[ $("$alignctl" list | grep -c '^job-') == 3 ]] || fail "jobs after the restart: $("$alignctl" list)"
timeout 300 "$alignctl" wait "$third" > wait-third.out || fail "$third did not succeed: $(cat wait-third.out)"
say "$third succeeded after the workers reconnected"
check_steps third 12
"$alignctl" events "$third" | grep -q "attempt 2), resuming from step [48]" || fail "$third did not resume from its checkpoint"
grep -q "joined the coordinator" "worker-$workers.log" || fail "no rejoin in the worker log"
[[ $(grep -c 'joined the coordinator' "worker-$workers.log") -ge 2 ]] || fail "the worker group did not reconnect"

# Nothing duplicated: one terminal event per job, checkpoints never repeated.
for id in "$first" "$second" "$third"; do
  [[ $("$alignctl" events "$id" | grep -c ' succeeded ') == 1 ]] || fail "$id: not exactly one succeeded event"
  dups=$("$alignctl" events "$id" | grep -o 'checkpoint at step [0-9]*' | sort | uniq -d)
  [[ -z "$dups" ]] || fail "$id: checkpoint events repeated: $dups"
done
curl -sf "http://127.0.0.1:$metrics_port/metrics" | grep -q 'align_train_step{job="job-000003"} 12' \
  || fail "/metrics after the restart lacks job-000003's final step"
say "PASS"
