#!/usr/bin/env bash
# A bounded soak: a real align-coordinator, two 2-rank worker groups
# (`mpirun -np 2 align-worker`) and a stream of small DPO jobs submitted with
# alignctl, while a driver picks faults at random for CHAOS_SECONDS:
#   kill-rank        SIGKILL one rank of a group (the group is then relaunched)
#   kill-group       SIGKILL a whole group, then launch a new one
#   stop-rank        SIGSTOP one rank for 1-5 s, then SIGCONT
#   stop-group       SIGSTOP both ranks for 1-7 s (longer than --worker-timeout:
#                    the group is lost while it sleeps and wakes up stale)
#   kill-coordinator SIGKILL the coordinator, restart it on the same --state
#                    and address
# Both group slots are relaunched at once after a kill, so progress is always
# possible. Then the faults stop, every job is allowed to finish, and:
#   - every job succeeded exactly once (one `succeeded` event, no `failed`),
#     its attempts are its `started` events, and no submission made a second
#     job (every submit carries --submit-key and is retried through outages);
#   - every metrics.jsonl has each training step once, 1..STEPS, in order,
#     and every job logged the same loss at each step (resumes are
#     bit-identical: the jobs share seed, data and hyperparameters);
#   - every final checkpoint is complete (safetensors headers and sizes,
#     config.json, trainer_state.json naming its job and step), and one of
#     them, whose UNet and optimizer bytes all jobs share, is loaded by a job
#     that resumes from it and trains two more steps;
#   - no checkpoint changed after it first appeared: a watcher hashes every
#     checkpoint-N the moment it is renamed into place, and the hashes and
#     inodes are compared at the end (a stale group that wakes up never
#     replaces a newer attempt's files); every checkpoint an event reports
#     is one of them, never a .partial-* folder;
#   - coordinator.db passes PRAGMA integrity_check after a final SIGKILL.
# The last line is a summary: seed, duration, faults of each kind, jobs,
# attempts, steps. A failure prints the seed; CHAOS_SEED=N replays the same
# sequence of faults (their timing still depends on the machine).
#
#   chaos_test.sh COORDINATOR_BIN ALIGNCTL_BIN WORKER_BIN TINY_MODEL_DIR WORK_DIR
set -euo pipefail
lib="$(cd "$(dirname "$0")" && pwd)/lib.sh"

coordinator_bin=$1
alignctl=$2
worker_bin=$3
model=$4
work=$5

seed=${CHAOS_SEED:-$(( $(date +%s%N) % 32768 ))}
chaos_seconds=${CHAOS_SECONDS:-90}
jobs=${CHAOS_JOBS:-12}
steps=8
checkpoint_every=2
worker_timeout_s=3

rm -rf "$work"
mkdir -p "$work"
cd "$work"
source "$lib"

RANDOM=$seed
echo "chaos seed $seed (replay: CHAOS_SEED=$seed)"
# Every failure names the seed, whichever check it comes from.
eval "lib_$(declare -f fail)"
fail() { echo "chaos seed $seed" >&2; lib_fail "$@"; }

write_tokens chaos

# ---- worker groups: two slots, each holding one mpirun session ---------------
declare -a slot_pgid=() slot_name=()
group_launches=0

start_group() {  # start_group SLOT
  start_workers
  slot_pgid[$1]=$worker_pgid
  slot_name[$1]=$worker_name
  group_launches=$((group_launches + 1))
  # lib.sh's stop_workers tracks one group; the slots track ours.
  worker_pgid=
  worker_name=
}

stop_group() {  # stop_group SLOT: SIGKILL the session and every rank of it
  worker_pgid=${slot_pgid[$1]}
  mpirun_pid=$worker_pgid
  worker_name=${slot_name[$1]}
  kill -CONT $(our_ranks) 2>/dev/null || true
  stop_workers
  slot_pgid[$1]=
  slot_name[$1]=
}

group_ranks() {  # group_ranks SLOT: the slot's align-worker processes
  pgrep -f -- "^$worker_bin .*--group-name ${slot_name[$1]}\$" || true
}

eval "lib_$(declare -f cleanup)"
cleanup() {
  local slot
  for slot in 0 1; do [[ -n "${slot_name[$slot]:-}" ]] && stop_group "$slot"; done
  [[ -n "${watcher_pid:-}" ]] && { kill "$watcher_pid" 2>/dev/null || true; }
  lib_cleanup
}

# ---- the checkpoint watcher ---------------------------------------------------
# Hashes every runs/*/checkpoint-N folder the moment it appears (rename makes
# it appear whole) and appends {job, step, inode, sha256} to
# checkpoints-seen.jsonl; the end compares them with what is there then.
cat > checkpoint_hash.py <<'PY'
import hashlib, json, os, re, sys, time

NAME = re.compile(r"checkpoint-([0-9]+)$")

def digest(path):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(os.path.relpath(p, path).encode() + b"\0")
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()

def checkpoints(runs):
    for job in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
        d = os.path.join(runs, job)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            m = NAME.fullmatch(name)
            if m and os.path.isdir(os.path.join(d, name)):
                yield job, int(m.group(1)), os.path.join(d, name)

def record(job, step, path):
    return {"job": job, "step": step, "inode": os.stat(path).st_ino, "sha256": digest(path)}

if sys.argv[1] == "watch":  # watch RUNS OUT STOP_FILE
    runs, out, stop = sys.argv[2:5]
    seen = set()
    with open(out, "a") as f:
        while True:
            last = os.path.exists(stop)
            for job, step, path in checkpoints(runs):
                if (job, step) in seen:
                    continue
                try:
                    f.write(json.dumps(record(job, step, path)) + "\n")
                    f.flush()
                    seen.add((job, step))
                except FileNotFoundError:
                    pass  # gone while read: reported as missing at the end
            if last:
                break
            time.sleep(0.1)
else:  # now RUNS: the same records for what is there now
    for job, step, path in checkpoints(sys.argv[2]):
        print(json.dumps(record(job, step, path)))
PY
mkdir -p runs
python3 checkpoint_hash.py watch runs checkpoints-seen.jsonl watcher.stop 2> watcher.log &
watcher_pid=$!

# ---- jobs ---------------------------------------------------------------------
"$alignctl" make-synthetic --model "$model" --pairs 32 --heldout 4 --tokens 8 --out data > /dev/null
write_spec() {  # write_spec NAME STEPS [EXTRA_YAML_LINE]
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
checkpoint_every: $checkpoint_every
eval_every: 0
seed: 7
device: cpu
${3:-}
YAML
}

# submit NAME: submits NAME.yaml under the submit key chaos-NAME, retrying
# while the coordinator is down (a retry that reaches it after an earlier try
# did gets that try's job back); prints the job id.
submit() {
  local deadline=$((SECONDS + 120)) out
  until out=$("$alignctl" --timeout 10 submit --submit-key "chaos-$1" "$1.yaml" 2> "submit-$1.err"); do
    ((SECONDS < deadline)) || fail "cannot submit $1 within 120 s: $(cat "submit-$1.err")"
    sleep 0.5
  done
  tail -n 1 <<< "$out"
}

# ---- the faults ---------------------------------------------------------------
declare -A faults=([kill-rank]=0 [kill-group]=0 [stop-rank]=0 [stop-group]=0 [kill-coordinator]=0
  [kill-coordinator-skipped]=0)

# The coordinator fails a job whose last max_attempts (3) attempts were all
# interrupted by a coordinator restart before they made progress (crash-loop
# protection). Random kills could hit one job's starts three times in a row;
# that would be the protection working, not a fault of the service, so the
# coordinator is not killed while a queued or running job already has 2
# strikes (read from the store; without the sqlite3 command, never). The
# summary counts the kills skipped.
coordinator_kill_is_safe() {
  command -v sqlite3 >/dev/null || return 1
  local struck
  struck=$(sqlite3 -cmd '.timeout 2000' "file:state/coordinator.db?mode=ro" \
    "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND restart_strikes >= 2") || return 1
  [[ "$struck" == 0 ]]
}

# draw N...: sets drawn[0..] to 0..N-1 each, from the seeded sequence (never
# in a subshell: $(...) would not advance this shell's RANDOM).
draw() {
  drawn=()
  local n
  for n in "$@"; do drawn+=($((RANDOM % n))); done
}

restart_coordinator() {  # restart_coordinator TENTHS: down for TENTHS/10 s
  { kill -9 "$coordinator_pid"; wait "$coordinator_pid" || true; } 2>/dev/null
  sleep "0.$1"
  start_coordinator --worker-timeout "${worker_timeout_s}s"
}

fault() {  # fault: one fault, chosen and timed by the seeded sequence
  # The same number of draws whatever the fault: a replay keeps in step.
  draw 2 100 2 5 7 10
  local slot=${drawn[0]} kind=${drawn[1]} which=${drawn[2]} rank_stop=$((1 + drawn[3])) group_stop=$((1 + drawn[4]))
  local pause=0.${drawn[5]} ranks pid
  mapfile -t ranks < <(group_ranks "$slot")
  if ((kind < 20)); then
    ((${#ranks[@]} > 0)) || return 0
    pid=${ranks[$((which % ${#ranks[@]}))]}
    say "fault: SIGKILL rank pid $pid of ${slot_name[$slot]}"
    kill -9 "$pid" 2>/dev/null || true
    faults[kill-rank]=$((faults[kill-rank] + 1))
    sleep "$pause"  # the coordinator sees that rank's stream end first
    stop_group "$slot"
    start_group "$slot"
  elif ((kind < 40)); then
    say "fault: SIGKILL worker group ${slot_name[$slot]}"
    faults[kill-group]=$((faults[kill-group] + 1))
    stop_group "$slot"
    start_group "$slot"
  elif ((kind < 60)); then
    ((${#ranks[@]} > 0)) || return 0
    pid=${ranks[$((which % ${#ranks[@]}))]}
    say "fault: SIGSTOP rank pid $pid of ${slot_name[$slot]} for ${rank_stop}s"
    faults[stop-rank]=$((faults[stop-rank] + 1))
    kill -STOP "$pid" 2>/dev/null || true
    sleep "$rank_stop"
    kill -CONT "$pid" 2>/dev/null || true
  elif ((kind < 82)); then
    ((${#ranks[@]} > 0)) || return 0
    say "fault: SIGSTOP worker group ${slot_name[$slot]} for ${group_stop}s"
    faults[stop-group]=$((faults[stop-group] + 1))
    kill -STOP "${ranks[@]}" 2>/dev/null || true
    sleep "$group_stop"
    kill -CONT "${ranks[@]}" 2>/dev/null || true
  elif ! coordinator_kill_is_safe; then
    say "fault: SIGKILL the coordinator skipped: a job has 2 restart strikes"
    faults[kill-coordinator-skipped]=$((faults[kill-coordinator-skipped] + 1))
  else
    say "fault: SIGKILL the coordinator"
    faults[kill-coordinator]=$((faults[kill-coordinator] + 1))
    restart_coordinator "${drawn[5]}"
  fi
}

# ---- the run ------------------------------------------------------------------
start_coordinator --worker-timeout "${worker_timeout_s}s"
start_group 0
start_group 1
say "coordinator on $ALIGN_COORDINATOR; $jobs jobs of $steps steps; faults for ${chaos_seconds}s"

declare -a names=() ids=()
for ((i = 1; i <= jobs; i++)); do
  names+=("$(printf 'soak-%02d' "$i")")
  write_spec "${names[-1]}" "$steps"
done

# Jobs are submitted in a stream while the faults go on: one every 6 s, with
# faults 1-4 s apart in between.
chaos_start=$SECONDS
next_submit=$SECONDS
while ((SECONDS - chaos_start < chaos_seconds)); do
  if ((${#ids[@]} < jobs && SECONDS >= next_submit)); then
    ids+=("$(submit "${names[${#ids[@]}]}")")
    say "submitted ${names[${#ids[@]} - 1]} as ${ids[-1]}"
    next_submit=$((SECONDS + 6))
    continue
  fi
  draw 3 10
  sleep "$((1 + drawn[0])).${drawn[1]}"
  fault
done
while ((${#ids[@]} < jobs)); do ids+=("$(submit "${names[${#ids[@]}]}")"); done
chaos_seconds_run=$((SECONDS - chaos_start))
say "faults stopped after ${chaos_seconds_run}s; letting every job finish"

# Both slots serve (a stopped process was continued; a killed group relaunched).
for slot in 0 1; do
  [[ -n "$(group_ranks "$slot")" ]] || { stop_group "$slot"; start_group "$slot"; }
done
for i in "${!ids[@]}"; do
  timeout 240 "$alignctl" wait "${ids[$i]}" > "wait-${names[$i]}.out" 2>&1 \
    || fail "${ids[$i]} (${names[$i]}) did not succeed: $(cat "wait-${names[$i]}.out"; "$alignctl" events "${ids[$i]}")"
done
say "every job succeeded"

# ---- checks -------------------------------------------------------------------
# A final checkpoint resumed by a real job: its UNet and optimizer state load.
# runs/reload starts as a copy of the first job's final checkpoint, and the job
# trains two steps past it.
# Copied, then renamed into place as the trainer does: the watcher must never
# hash a half-copied folder.
mkdir -p runs/reload
cp -r "runs/${names[0]}/checkpoint-$steps" "runs/reload/checkpoint-$steps.partial-copy"
mv "runs/reload/checkpoint-$steps.partial-copy" "runs/reload/checkpoint-$steps"
# Another job's checkpoint is not resumed unless the spec says so.
write_spec foreign $((steps + 2))
sed -i 's|^output: .*|output: runs/reload|' foreign.yaml
foreign_id=$(submit foreign)
if timeout 240 "$alignctl" wait "$foreign_id" > wait-foreign.out 2>&1; then
  fail "$foreign_id resumed from ${names[0]}'s checkpoint without resume: any"
fi
"$alignctl" status "$foreign_id" | grep -q "written by ${ids[0]}, not by this job ($foreign_id)" \
  || fail "$foreign_id failed for another reason: $("$alignctl" status "$foreign_id")"
say "$foreign_id refused to resume from ${names[0]}'s checkpoint (no resume: any)"
write_spec reload $((steps + 2)) "resume: any"
reload_id=$(submit reload)
timeout 240 "$alignctl" wait "$reload_id" > wait-reload.out 2>&1 \
  || fail "the job resuming from ${names[0]}'s final checkpoint failed: $(cat wait-reload.out; "$alignctl" events "$reload_id")"
say "$reload_id resumed from a copy of ${names[0]}'s checkpoint-$steps and trained to step $((steps + 2))"

touch watcher.stop
wait "$watcher_pid" || fail "the checkpoint watcher failed: $(cat watcher.log)"
watcher_pid=

for i in "${!ids[@]}"; do "$alignctl" events "${ids[$i]}" > "events-${names[$i]}.txt"; done
"$alignctl" events "$reload_id" > events-reload.txt
for i in "${!ids[@]}"; do "$alignctl" status "${ids[$i]}" --json > "status-${names[$i]}.json"; done
"$alignctl" status "$reload_id" --json > status-reload.json
"$alignctl" status "$foreign_id" --json > status-foreign.json
"$alignctl" list --limit 0 > list.txt
python3 checkpoint_hash.py now runs > checkpoints-now.jsonl

printf '%s\n' "${names[@]}" > names.txt
python3 - "$steps" "${ids[@]}" > checks.out 2>&1 <<'PY' || fail "checks: $(cat checks.out)"
import glob, json, os, re, struct, sys

steps = int(sys.argv[1])
ids = sys.argv[2:]
names = open("names.txt").read().split()
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)
    return ok

# Jobs: exactly the submitted ones (a retried submit made no second job).
listed = [l.split()[0] for l in open("list.txt") if l.startswith("job-")]
check(sorted(listed) == sorted(ids + [json.load(open(f"status-{extra}.json"))["id"] for extra in ("foreign", "reload")]),
      f"alignctl list has {listed}, submitted {ids}, foreign and reload")

attempts_total = 0
for name, job_id in zip(names, ids):
    events = [l.rstrip("\n").split(None, 2) for l in open(f"events-{name}.txt")]  # time, kind, message
    kinds = [e[1] for e in events]
    messages = [e[2] if len(e) > 2 else "" for e in events]
    status = json.load(open(f"status-{name}.json"))
    check(status["state"] == "JOB_STATE_SUCCEEDED", f"{job_id}: state {status['state']}")
    check(kinds.count("succeeded") == 1, f"{job_id}: {kinds.count('succeeded')} succeeded events")
    check(kinds[-1] == "succeeded", f"{job_id}: last event {kinds[-1]}")
    check("failed" not in kinds and "cancelled" not in kinds, f"{job_id}: events {kinds}")
    check(kinds.count("submitted") == 1, f"{job_id}: {kinds.count('submitted')} submitted events")
    check(status["attempts"] == kinds.count("started"),
          f"{job_id}: attempts {status['attempts']}, {kinds.count('started')} started events")
    attempts_total += status["attempts"]
    # Attempt n's started event says "(attempt n)".
    started = [m for k, m in zip(kinds, messages) if k == "started"]
    for n, m in enumerate(started, 1):
        check(f"(attempt {n})" in m, f"{job_id}: started event {n}: {m}")
    # Each checkpoint reported once, a complete checkpoint-N folder.
    reported = {}
    for k, m in zip(kinds, messages):
        if k != "checkpoint":
            continue
        g = re.fullmatch(r"checkpoint at step ([0-9]+): (.*)", m)
        if not check(g, f"{job_id}: checkpoint event {m!r}"):
            continue
        step, path = int(g.group(1)), g.group(2)
        check(step not in reported, f"{job_id}: checkpoint at step {step} reported twice")
        reported[step] = path
        check(os.path.basename(path) == f"checkpoint-{step}" and ".partial" not in path,
              f"{job_id}: checkpoint event names {path}")
    check(steps in reported, f"{job_id}: no checkpoint event for the final step {steps}")
    # Every resume starts from a checkpoint that was reported before it.
    done = set()
    for k, m in zip(kinds, messages):
        if k == "checkpoint":
            done.add(int(re.search(r"step ([0-9]+)", m).group(1)))
        g = re.search(r"resuming from step ([0-9]+)", m) if k == "started" else None
        if g:
            check(int(g.group(1)) in done, f"{job_id}: resumes from step {g.group(1)}, reported {sorted(done)}")

    # metrics.jsonl: each training step once, in order.
    lines = [json.loads(l) for l in open(f"runs/{name}/metrics.jsonl")]
    train = [l for l in lines if "loss" in l]
    check([l["step"] for l in train] == list(range(1, steps + 1)),
          f"{name}: metrics.jsonl steps {[l['step'] for l in train]}")
    # The final evaluation once, also when the attempt that completed resumed
    # at a final checkpoint that a group which had lost the job wrote.
    final_evals = [l for l in lines if "heldout_implicit_accuracy" in l and l["step"] == steps]
    check(len(final_evals) == 1, f"{name}: {len(final_evals)} evaluations of step {steps}")

# Resumes are bit-identical: every job logged the same loss at each step.
losses = {}
for name in names:
    for l in map(json.loads, open(f"runs/{name}/metrics.jsonl")):
        if "loss" in l:
            losses.setdefault(l["step"], set()).add(l["loss"])
for step, values in sorted(losses.items()):
    check(len(values) == 1, f"step {step}: the jobs logged different losses {sorted(values)}")

# Checkpoints: none changed or vanished after it appeared; the final ones are
# complete and, but for trainer_state.json's job name, the same bytes.
seen = {}
for r in map(json.loads, open("checkpoints-seen.jsonl")):
    seen.setdefault((r["job"], r["step"]), r)
now = {(r["job"], r["step"]): r for r in map(json.loads, open("checkpoints-now.jsonl"))}
for key, first in seen.items():
    later = now.get(key)
    if check(later is not None, f"runs/{key[0]}/checkpoint-{key[1]} disappeared"):
        check(later["sha256"] == first["sha256"] and later["inode"] == first["inode"],
              f"runs/{key[0]}/checkpoint-{key[1]} changed after it appeared: {first} then {later}")
check(set(now) <= set(seen), f"checkpoints the watcher missed: {sorted(set(now) - set(seen))}")

def safetensors_ok(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}
    ends = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        count = 1
        for d in t["shape"]:
            count *= d
        if end - begin != count * sizes[t["dtype"]]:
            return f"{name}: {end - begin} bytes for {t['shape']} {t['dtype']}"
        ends.append((begin, end))
    ends.sort()
    pos = 0
    for begin, end in ends:
        if begin != pos:
            return f"tensor data not contiguous at {pos}"
        pos = end
    if 8 + n + pos != len(data):
        return f"{len(data)} bytes, header says {8 + n + pos}"
    return None

final_bytes = set()
for name in names:
    d = f"runs/{name}/checkpoint-{steps}"
    state = json.load(open(f"{d}/trainer_state.json"))
    check(state.get("step") == steps and state.get("job") == name, f"{d}/trainer_state.json: {state}")
    json.load(open(f"{d}/unet/config.json"))
    tensors = sorted(glob.glob(f"{d}/unet/*.safetensors")) + [f"{d}/optimizer.safetensors"]
    check(len(tensors) >= 2, f"{d}: safetensors files {tensors}")
    for t in tensors:
        bad = safetensors_ok(t)
        check(bad is None, f"{t}: {bad}")
    final_bytes.add(tuple(open(t, "rb").read() for t in tensors))
check(len(final_bytes) == 1, f"the final checkpoints differ ({len(final_bytes)} distinct UNet/optimizer contents)")

# Folders of writers killed mid-write: left behind, never reported (above) or
# resumed from (the trainer's metrics and weights would show it).
partials = sorted(p for p in glob.glob("runs/*/checkpoint-*") if ".partial" in p)

reload = [json.loads(l) for l in open("runs/reload/metrics.jsonl")]
check([l["step"] for l in reload if "loss" in l] == [steps + 1, steps + 2],
      f"reload: metrics.jsonl {[l['step'] for l in reload if 'loss' in l]}")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"attempts {attempts_total} partial_leftovers {len(partials)} checkpoints {len(seen)}")
PY
read -r _ attempts_total _ partial_leftovers _ checkpoints_total < checks.out
say "jobs, metrics and checkpoints check out ($partial_leftovers .partial-* folders left by killed writers, never used)"

# The state after a crash: SIGKILL, then SQLite's own check of the file.
{ kill -9 "$coordinator_pid"; wait "$coordinator_pid" || true; } 2>/dev/null
coordinator_pid=
if command -v sqlite3 > /dev/null; then
  integrity=$(sqlite3 state/coordinator.db 'PRAGMA integrity_check') || fail "sqlite3 cannot open coordinator.db"
  [[ "$integrity" == ok ]] || fail "coordinator.db integrity_check: $integrity"
  say "coordinator.db passes PRAGMA integrity_check"
else
  say "SKIP: no sqlite3 command (deploy/install-deps.sh installs it); coordinator.db not checked"
fi

# Steps trained: rank 0 prints one line per step, redone ones included.
steps_trained=$(cat worker-*.log | grep -cE '^job-[0-9]+ step [0-9]+/' || true)
steps_logged=$((jobs * steps))
echo "chaos summary: seed $seed, ${SECONDS}s (faults ${chaos_seconds_run}s)," \
  "kill-rank ${faults[kill-rank]} kill-group ${faults[kill-group]} stop-rank ${faults[stop-rank]}" \
  "stop-group ${faults[stop-group]} kill-coordinator ${faults[kill-coordinator]}" \
  "(${faults[kill-coordinator-skipped]} skipped)," \
  "group launches $group_launches, jobs $jobs, attempts $attempts_total, steps $steps_logged" \
  "(trained $steps_trained with redone and stale ones), checkpoints $checkpoints_total"
say "PASS"
