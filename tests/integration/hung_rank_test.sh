#!/usr/bin/env bash
# A hung rank, as operators meet it: a real align-coordinator and a 2-rank
# worker group (`mpirun -np 2 align-worker`) run a DPO job; rank 1 is
# SIGSTOPped mid-job. Rank 0 keeps heartbeating (the group's lease holds) while
# it waits in a collective that never completes. The coordinator's progress
# watchdog (the spec's progress_timeout_s) must take the job from the group
# within that deadline and requeue it.
#
#   hung_rank_test.sh COORDINATOR_BIN ALIGNCTL_BIN WORKER_BIN TINY_MODEL_DIR WORK_DIR
set -euo pipefail
lib="$(cd "$(dirname "$0")" && pwd)/lib.sh"

coordinator_bin=$1
alignctl=$2
worker_bin=$3
model=$4
work=$5

rm -rf "$work"
mkdir -p "$work"
cd "$work"
source "$lib"

write_tokens hung
timeout_s=15

# The rank-1 align-worker process of our group (mpirun passes the rank in
# the environment).
rank_pid() {  # rank_pid RANK
  local pid
  for pid in $(pgrep -f -- "^$worker_bin .*--group-name $worker_name\$"); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}
steps_logged() { [[ -f runs/hung/metrics.jsonl ]] && (($(grep -c '"implicit_accuracy"' runs/hung/metrics.jsonl) >= 2)); }
watchdog_fired() { output_matches 'progress watchdog' "$alignctl" events "$job"; }
job_is_queued() { output_matches 'state: *queued' "$alignctl" status "$job"; }

"$alignctl" make-synthetic --model "$model" --pairs 64 --heldout 4 --tokens 8 --out data > /dev/null
# A lease far longer than the deadline: only the watchdog can notice.
start_coordinator --worker-timeout 120s
start_workers
say "coordinator on $ALIGN_COORDINATOR"

job=$(submit_dpo hung 5000 0 0 "progress_timeout_s: $timeout_s")
wait_until 120 "two steps of $job in metrics.jsonl" steps_logged
stuck=$(rank_pid 1) || fail "no rank-1 process of $worker_name"
kill -STOP "$stuck"
stopped_at=$SECONDS
say "rank 1 (pid $stuck) stopped after $(grep -c '"implicit_accuracy"' runs/hung/metrics.jsonl) steps"

wait_until $((timeout_s + 30)) "no progress-watchdog event for $job" watchdog_fired
noticed=$((SECONDS - stopped_at))
say "the watchdog took $job from the group after ${noticed}s"
((noticed <= timeout_s + 5)) || fail "noticed after ${noticed}s; the deadline is ${timeout_s}s"
wait_until 10 "$job is not queued again" job_is_queued
output_matches 'interrupted .*reported no progress for 15s after step [0-9]+ \(progress watchdog' \
  "$alignctl" events "$job" || fail "watchdog event: $("$alignctl" events "$job")"

kill -CONT "$stuck" 2>/dev/null || true
stop_workers
echo "hung_rank_test: ok"
