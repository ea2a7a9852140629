#!/usr/bin/env bash
# The one-command demo: installs what is missing, builds the three programs,
# and aligns the bundled tiny SDXL-architecture UNet the way a cluster would:
# a real align-coordinator (SQLite state, token file, /metrics) on loopback, a
# 2-rank CPU worker group (`mpirun -np 2 align-worker --coordinator ...`), a
# synthetic preference dataset, and two jobs submitted with alignctl:
# Diffusion-DPO and MaPO. It shows their progress live, waits for both, plots
# loss, implicit accuracy (held-out accuracy dashed) and reward margin per
# step into a PNG, and prints where the plot and the checkpoints are. Every
# process it starts is stopped when it ends, fails or is interrupted.
#
# Nothing needs configuring; these environment variables change the defaults:
#   ALIGN_BUILD_DIR        build directory (default: ./build)
#   ALIGN_DEMO_DIR         where state, data, runs, logs and the plot go; wiped
#                          at the start of each run (default: ./demo-run)
#   ALIGN_DEMO_STEPS       optimizer steps per job (default: 40)
#   ALIGN_DEMO_SKIP_BUILD  1: neither install packages nor build; use the
#                          programs already in ALIGN_BUILD_DIR
#   ALIGN_JOBS             parallel compile jobs (default: all cores)
set -euo pipefail

# The whole script is one function that bash reads before running any of it,
# so editing or updating this file while a demo runs cannot derail that demo.
main() {
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ALIGN_BUILD_DIR:-$root/build}"
demo="${ALIGN_DEMO_DIR:-$root/demo-run}"
steps="${ALIGN_DEMO_STEPS:-40}"
model="$root/tests/data/golden/tiny-sdxl"

say() { echo "== $*"; }
die() { echo "demo: $*" >&2; exit 1; }

[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "ALIGN_DEMO_STEPS must be a positive integer, got '$steps'"

# ---- 1. dependencies and the three programs ---------------------------------
if [[ "${ALIGN_DEMO_SKIP_BUILD:-0}" != 1 ]]; then
  "$root/deploy/install-deps.sh"
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    # Configured as deploy/build.sh does; an existing tree keeps its settings.
    generator=()
    if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
    cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}"
  fi
  say "building align-coordinator, align-worker and alignctl in $build"
  cmake --build "$build" -j "${ALIGN_JOBS:-$(nproc)}" --target align-worker align-coordinator alignctl
fi
coordinator_bin="$build/coordinator/server/align-coordinator"
worker_bin="$build/worker/align-worker"
alignctl="$build/coordinator/alignctl/alignctl"
for bin in "$coordinator_bin" "$worker_bin" "$alignctl"; do
  [[ -x "$bin" ]] || die "$bin is missing (build it, or run without ALIGN_DEMO_SKIP_BUILD=1)"
done
command -v mpirun >/dev/null 2>&1 || die "mpirun is missing (deploy/install-deps.sh installs openmpi-bin)"

# ---- the demo folder: ours to wipe only if a previous demo made it ----------
if [[ -e "$demo" && ! -f "$demo/.align-demo" && -n "$(ls -A "$demo" 2>/dev/null)" ]]; then
  die "$demo exists and was not made by this demo; choose another ALIGN_DEMO_DIR or remove it"
fi
rm -rf "$demo"
mkdir -p "$demo"
demo="$(cd "$demo" && pwd)"
touch "$demo/.align-demo"
started=$SECONDS

# ---- cleanup: every process started below, on any exit ----------------------
coordinator_pid=
mpirun_pid=
watch_pid=
group="demo-$$-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"

# The worker ranks of our group, found by the group name only we use: mpirun
# puts each rank in a process group of its own, and a rank can outlive it.
our_ranks() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "--group-name $group "; then echo "${p#/proc/}"; fi
  done
}

stop_pid() {  # stop_pid PID SECONDS: SIGTERM, then SIGKILL if it outlives SECONDS
  local pid=$1 tries=$(($2 * 10))
  kill -TERM "$pid" 2>/dev/null || return 0
  while ((tries-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [[ -n "$watch_pid" ]] && stop_pid "$watch_pid" 1
  if [[ -n "$mpirun_pid" ]]; then
    stop_pid "$mpirun_pid" 10  # mpirun passes SIGTERM on to its ranks
    local pid
    for pid in $(our_ranks); do stop_pid "$pid" 2; done
  fi
  [[ -n "$coordinator_pid" ]] && stop_pid "$coordinator_pid" 10
  wait 2>/dev/null || true
  if ((status != 0)); then
    echo "demo: stopped the coordinator and the workers; logs are in $demo" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "demo: FAILED: $*" >&2
  local log
  for log in "$demo/coordinator.log" "$demo/workers.log"; do
    [[ -s "$log" ]] || continue
    echo "--- $log (last 30 lines) ---" >&2
    tail -n 30 "$log" >&2
  done
  exit 1
}

# ---- 2. the coordinator: loopback, free ports, generated tokens -------------
(
  umask 077
  printf 'client:%s\nworker:%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" \
    "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > "$demo/tokens"
)
"$coordinator_bin" --listen 127.0.0.1:0 --state "$demo/state" --token-file "$demo/tokens" \
  --metrics-listen 127.0.0.1:0 2> "$demo/coordinator.log" &
coordinator_pid=$!
address=
for _ in $(seq 1 100); do
  address=$(sed -n 's/.* listening on \([^;]*\);.*/\1/p' "$demo/coordinator.log" | head -n 1)
  [[ -n "$address" ]] && break
  kill -0 "$coordinator_pid" 2>/dev/null || fail "align-coordinator exited at start"
  sleep 0.1
done
[[ -n "$address" ]] || fail "align-coordinator did not start within 10 s"
metrics=$(sed -n 's|.* metrics on \(http://[^ ]*\).*|\1|p' "$demo/coordinator.log" | head -n 1)
export ALIGN_COORDINATOR=$address ALIGN_TOKEN_FILE=$demo/tokens
say "align-coordinator on $address (state: $demo/state, metrics: ${metrics:-none})"

# ---- 3. a worker group of two CPU ranks -------------------------------------
mpi_options=(--oversubscribe --bind-to none)
if [[ $(id -u) -eq 0 ]]; then mpi_options+=(--allow-run-as-root); fi
# Detached from the terminal (setsid): a Ctrl-C there reaches the ranks only
# through cleanup's orderly stop.
setsid mpirun "${mpi_options[@]}" -np 2 \
  "$worker_bin" --coordinator "$address" --token-file "$demo/tokens" --group-name "$group" \
  > "$demo/workers.log" 2>&1 < /dev/null &
mpirun_pid=$!
say "worker group $group: mpirun -np 2 align-worker (log: $demo/workers.log)"

# ---- 4. a synthetic preference dataset shaped for the model -----------------
"$alignctl" make-synthetic --model "$model" --pairs 192 --heldout 32 --tokens 8 --seed 3 \
  --out "$demo/data" > "$demo/make-synthetic.log" || fail "make-synthetic: $(cat "$demo/make-synthetic.log")"
say "dataset: 192 training and 32 held-out pairs in $demo/data"

# ---- 5. two jobs: Diffusion-DPO and MaPO ------------------------------------
eval_every=$(( steps >= 4 ? steps / 4 : 1 ))
checkpoint_every=$(( steps >= 2 ? steps / 2 : 1 ))
write_spec() {  # write_spec NAME LOSS
  cat > "$demo/$1.yaml" <<YAML
name: demo-$1
type: train
model: $model
dataset: $demo/data
output: $demo/runs/$1
loss: $2
optim: {name: adamw, lr: 1.0e-3, weight_decay: 0.0, warmup_steps: 0, grad_clip: 1.0}
batch: {pairs_per_rank: 4, grad_accum: 1}
steps: $steps
seed: 11
checkpoint_every: $checkpoint_every
eval_every: $eval_every
device: cpu
YAML
}
write_spec dpo "{type: dpo, beta: 5}"
write_spec mapo "{type: mapo, mapo_beta: 0.1}"
submit() {  # submit NAME: prints the job id
  local out
  out=$("$alignctl" submit "$demo/$1.yaml") || fail "alignctl submit $demo/$1.yaml: $out"
  tail -n 1 <<< "$out"
}
dpo_id=$(submit dpo)
mapo_id=$(submit mapo)
say "submitted $dpo_id (Diffusion-DPO) and $mapo_id (MaPO): $steps steps each, 8 pairs per step," \
  "held-out accuracy every $eval_every steps, checkpoints every $checkpoint_every"

# ---- 6. live progress, then both must have succeeded ------------------------
follow() {  # follow ID: `alignctl watch` while checking that our processes live
  "$alignctl" watch "$1" &
  watch_pid=$!
  while kill -0 "$watch_pid" 2>/dev/null; do
    kill -0 "$mpirun_pid" 2>/dev/null || fail "the worker group exited while $1 was running"
    kill -0 "$coordinator_pid" 2>/dev/null || fail "align-coordinator exited while $1 was running"
    sleep 0.5
  done
  local rc=0
  wait "$watch_pid" || rc=$?
  watch_pid=
  ((rc == 0)) || fail "$1 did not succeed: $("$alignctl" status "$1" 2>&1)"
}
say "training (the worker group takes the jobs one after the other)"
follow "$dpo_id"
follow "$mapo_id"
for id in "$dpo_id" "$mapo_id"; do
  "$alignctl" wait "$id" > /dev/null || fail "$id did not succeed: $("$alignctl" status "$id" 2>&1)"
done
say "both jobs succeeded"

# ---- 7. the plot and the checkpoints ----------------------------------------
"$alignctl" plot --series "dpo=$demo/runs/dpo/metrics.jsonl" --series "mapo=$demo/runs/mapo/metrics.jsonl" \
  --out "$demo/alignment.png" || fail "alignctl plot failed"
say "checkpoints (diffusers layout; checkpoint-$steps is the final one):"
for job in dpo mapo; do
  [[ -d "$demo/runs/$job/checkpoint-$steps/unet" ]] || fail "$job has no final checkpoint-$steps/unet"
  ls -d "$demo/runs/$job"/checkpoint-*/unet | sort -V | sed 's/^/  /'
done
say "done in $((SECONDS - started)) s; stopping the coordinator and the workers"
}

main "$@"
