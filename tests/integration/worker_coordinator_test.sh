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

write_tokens it

job_field() {  # job_field ID FIELD: a top-level field of `alignctl status --json`
  "$alignctl" status "$1" --json | python3 -c "import json,sys; j=json.load(sys.stdin); print(j.get('$2', ''))"
}
job_state_is() { [[ $(job_field "$1" state) == "$2" ]]; }  # job_state_is ID JOB_STATE_...
events_match() { output_matches "$2" "$alignctl" events "$1"; }  # events_match ID PATTERN

wait_for_event() {  # wait_for_event ID PATTERN TIMEOUT_S
  local deadline=$((SECONDS + $3))
  until events_match "$1" "$2"; do
    ((SECONDS < deadline)) || fail "$1: no event matching '$2' within $3 s: $("$alignctl" events "$1" 2>&1)"
    sleep 0.2
  done
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

# A Prometheus instant query has a series labelled job="$2".
prometheus_has() {  # prometheus_has METRIC JOB_ID
  curl -sf "http://127.0.0.1:$prometheus_port/api/v1/query?query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if any(x["metric"].get("job") == sys.argv[1] for x in r) else 1)' "$2" 2>/dev/null
}

# ---- setup: data, coordinator, Prometheus, a worker group -------------------
"$alignctl" make-synthetic --model "$model" --pairs 64 --heldout 16 --tokens 8 --out data > /dev/null
start_coordinator --worker-timeout 10s
cat > prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: align-coordinator
    honor_labels: true  # keep the coordinator's job="job-..." label (docs/operations.md)
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
start_prometheus prometheus.yml
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
# The job's final step is on /metrics as soon as it has succeeded.
metrics_have '^align_train_step\{job="job-000001"\} 10$' || fail "/metrics lacks $first's final step"

wait_until 60 "Prometheus has no align_train_loss{job=\"$first\"}" prometheus_has align_train_loss "$first"
# Scraped together with align_train_loss: no need to wait again.
for metric in align_train_implicit_accuracy align_train_step align_step_duration_seconds_count; do
  prometheus_has "$metric" "$first" || fail "Prometheus has no $metric{job=\"$first\"}"
done
output_matches '"result":\[\{' curl -sf "http://127.0.0.1:$prometheus_port/api/v1/query?query=align_workers_up" \
  || fail "Prometheus has no align_workers_up"
say "Prometheus scraped align_train_loss"

# Jobs 2 and 3 have 16 steps and are interrupted after their checkpoint at
# step 4: the 12 steps left are the margin for the test to act before the
# job could end on its own, however slow the machine.

# ---- 2. SIGKILL the worker group after a checkpoint -------------------------
second=$(submit second 16)
wait_for_event "$second" "checkpoint at step 4" 120
stop_workers
say "killed the worker group during $second"
wait_until 60 "$second was not requeued" job_state_is "$second" JOB_STATE_QUEUED
start_workers
timeout 300 "$alignctl" wait "$second" > wait-second.out || fail "$second did not succeed: $(cat wait-second.out)"
say "$second resumed and succeeded"
events_match "$second" 'attempt 2\), resuming from step (4|8|12)$' || fail "$second did not resume from its checkpoint"
check_steps second 16
events_match "$second" 'interrupted .*lost' || fail "$second was not interrupted"
[[ $(job_field "$second" attempts) == 2 ]] || fail "$second attempts: $(job_field "$second" attempts)"

# ---- 3. SIGKILL the coordinator mid-job, restart it on the same --state -------
third=$(submit third 16)
wait_for_event "$third" "checkpoint at step 4" 120
{ kill -9 "$coordinator_pid"; wait "$coordinator_pid" || true; } 2>/dev/null
say "killed the coordinator during $third"
start_coordinator --worker-timeout 10s
# Every job is there, with its progress.
job_state_is "$first" JOB_STATE_SUCCEEDED || fail "$first lost its state"
job_state_is "$second" JOB_STATE_SUCCEEDED || fail "$second lost its state"
output_matches 'step 10/10' "$alignctl" status "$first" || fail "$first lost its progress: $("$alignctl" status "$first")"
output_matches 'step ([4-9]|1[0-6])/16' "$alignctl" status "$third" \
  || fail "$third lost its progress: $("$alignctl" status "$third")"
events_match "$third" "the coordinator restarted" || fail "$third was not requeued at restart"
[[ $("$alignctl" list | grep -c '^job-') == 3 ]] || fail "jobs after the restart: $("$alignctl" list)"
timeout 300 "$alignctl" wait "$third" > wait-third.out || fail "$third did not succeed: $(cat wait-third.out)"
say "$third succeeded after the workers reconnected"
check_steps third 16
events_match "$third" 'attempt 2\), resuming from step (4|8|12)$' || fail "$third did not resume from its checkpoint"
[[ $(grep -c 'joined the coordinator' "worker-$workers.log") -ge 2 ]] || fail "the worker group did not reconnect"
# The final step's metrics reach the restarted coordinator before the job's
# completion does, so they are on /metrics the moment the job has succeeded.
metrics_have '^align_train_step\{job="job-000003"\} 16$' || fail "/metrics after the restart lacks $third's final step"

# ---- 4. a job whose output already holds its final checkpoint --------------
# What the workers find when the coordinator went away after they wrote the
# final checkpoint but before it recorded the job's end: the job completes
# without a step to train, and the final step's metrics, which only
# metrics.jsonl still has, must reach the coordinator before the completion.
# The output is a copy of the first job's, so this job stands in for it:
# `resume: any` lets it resume a checkpoint another job wrote.
cp -r runs/first runs/fourth
fourth=$(submit_dpo fourth 10 4 5 "resume: any")
timeout 300 "$alignctl" wait "$fourth" > wait-fourth.out || fail "$fourth did not succeed: $(cat wait-fourth.out)"
say "$fourth succeeded from its final checkpoint"
check_steps fourth 10
final_loss=$(python3 -c '
import json, sys
print([j for j in map(json.loads, open(sys.argv[1])) if j["step"] == 10 and "loss" in j][-1]["loss"])' runs/fourth/metrics.jsonl)
metrics_have '^align_train_step\{job="job-000004"\} 10$' || fail "/metrics lacks $fourth's final step"
metrics_have '^align_train_loss\{job="job-000004"\} ' || fail "/metrics lacks $fourth's final loss"
metrics_have '^align_eval_heldout_implicit_accuracy\{job="job-000004"\} ' \
  || fail "/metrics lacks $fourth's final evaluation"
"$alignctl" status "$fourth" --json | python3 -c '
import json, sys
metrics = json.load(sys.stdin).get("progress", {}).get("metrics", {})
sys.exit(0 if abs(metrics.get("loss", float("nan")) - float(sys.argv[1])) < 1e-6 else f"stored metrics: {metrics}")' \
  "$final_loss" || fail "$fourth's stored metrics are not its final step's"

# Nothing duplicated: one terminal event per job, checkpoints never repeated.
for id in "$first" "$second" "$third" "$fourth"; do
  [[ $("$alignctl" events "$id" | grep -c ' succeeded ') == 1 ]] || fail "$id: not exactly one succeeded event"
  dups=$("$alignctl" events "$id" | { grep -o 'checkpoint at step [0-9]*' || true; } | sort | uniq -d)
  [[ -z "$dups" ]] || fail "$id: checkpoint events repeated: $dups"
done
say "PASS"
