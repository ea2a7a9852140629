#!/usr/bin/env bash
# deploy/demo.sh as a user runs it, against the already-built tree and with a
# short configuration (8 steps per job, a temp demo folder):
#   1. both jobs succeed; the PNG it prints exists, decodes, has the size it
#      claims and both jobs' colours; the checkpoints it prints exist in
#      diffusers layout, the final one included; each metrics.jsonl has every
#      step once; no process it started is left;
#   2. interrupted (SIGTERM) while training, it stops every process it started;
#   3. it refuses to wipe a folder that a previous demo did not make.
#
#   demo_test.sh DEMO_SH BUILD_DIR WORK_DIR
set -euo pipefail

demo_sh=$1
build=$2
work=$3
steps=8

rm -rf "$work"
mkdir -p "$work"
cd "$work"
start_time=$SECONDS
say() { echo "[$((SECONDS - start_time))s] $*"; }
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.out "$work"/run/coordinator.log "$work"/run/workers.log; do
    [[ -f "$log" ]] || continue
    echo "--- $log (tail) ---" >&2
    tail -n 30 "$log" >&2
  done
  exit 1
}

# Processes whose command line names DIR: the demo's coordinator and worker
# ranks all carry its token file's path.
processes_under() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "$1/tokens"; then echo "${p#/proc/}"; fi
  done
}
demo_pid=
cleanup() {
  [[ -n "$demo_pid" ]] && kill "$demo_pid" 2>/dev/null || true
  local pid
  for dir in "$work/run" "$work/interrupted"; do
    for pid in $(processes_under "$dir"); do kill -9 "$pid" 2>/dev/null || true; done
  done
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

run_demo() {  # run_demo DIR: the demo with the short configuration
  ALIGN_BUILD_DIR="$build" ALIGN_DEMO_SKIP_BUILD=1 ALIGN_DEMO_STEPS=$steps ALIGN_DEMO_DIR="$1" bash "$demo_sh"
}

# The demo's last SIGKILLs return before their targets are gone: a process
# killed a moment ago is not one left running, so this polls, with a deadline.
expect_no_processes() {  # expect_no_processes DIR
  local left deadline=$((SECONDS + 10))
  while left=$(processes_under "$1") && [[ -n "$left" ]] && ((SECONDS < deadline)); do sleep 0.2; done
  if [[ -n "$left" ]]; then
    fail "processes left running after the demo: $(for p in $left; do tr '\0' ' ' < "/proc/$p/cmdline"; echo; done)"
  fi
  flock -n "$1/state/coordinator.lock" true || fail "the coordinator's state lock is still held"
}

# ---- 1. a whole run -----------------------------------------------------------
run_demo "$work/run" > demo.out 2>&1 || fail "deploy/demo.sh exited with $?"
say "demo finished"
grep -q "^job-000001 succeeded" demo.out || fail "no 'job-000001 succeeded' line"
grep -q "^job-000002 succeeded" demo.out || fail "no 'job-000002 succeeded' line"
grep -q "both jobs succeeded" demo.out || fail "the demo did not report success"
expect_no_processes "$work/run"

png_line=$(grep '^plot: ' demo.out | tail -n 1)
[[ -n "$png_line" ]] || fail "the demo printed no 'plot: PATH' line"
png=$(sed 's/^plot: \(.*\) (\([0-9]*\)x\([0-9]*\))$/\1/' <<< "$png_line")
size=$(sed 's/^plot: .* (\([0-9]*x[0-9]*\))$/\1/' <<< "$png_line")
[[ -f "$png" ]] || fail "the plot $png does not exist"
# Decode with zlib: chunk CRCs, IHDR, inflate, undo the row filters; then the
# two jobs' colours (the first two of the chart palette) must be present.
python3 - "$png" "$size" <<'PY' || fail "$png is not the expected PNG"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind}"
    if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    if kind == b"IDAT": idat += body
    pos += 12 + length
    if kind == b"IEND": break
w, h, depth, color = ihdr[:4]
assert f"{w}x{h}" == sys.argv[2], f"{w}x{h}, printed {sys.argv[2]}"
assert (depth, color) == (8, 2), "not 8-bit RGB"
raw = zlib.decompress(idat)
stride = w * 3
assert len(raw) == h * (stride + 1), "wrong amount of image data"
prev, colours = bytearray(stride), set()
for y in range(h):
    f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - 3] if i >= 3 else 0
        b, c = prev[i], (prev[i - 3] if i >= 3 else 0)
        if f == 1: row[i] = (row[i] + a) & 255
        elif f == 2: row[i] = (row[i] + b) & 255
        elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    colours.update(bytes(row[i:i + 3]) for i in range(0, stride, 3))
    prev = row
for name, rgb in (("dpo", (31, 119, 180)), ("mapo", (255, 127, 14))):
    assert bytes(rgb) in colours, f"no {name} line colour {rgb} in the plot"
PY
say "plot $png decodes ($size) and shows both jobs"

mapfile -t checkpoints < <(grep -E '^  /.*/checkpoint-[0-9]+/unet$' demo.out | sed 's/^  //')
[[ ${#checkpoints[@]} -ge 2 ]] || fail "the demo printed ${#checkpoints[@]} checkpoint paths"
for checkpoint in "${checkpoints[@]}"; do
  [[ -f "$checkpoint/config.json" && -f "$checkpoint/diffusion_pytorch_model.safetensors" ]] \
    || fail "$checkpoint is not a diffusers UNet folder"
done
for job in dpo mapo; do
  printf '%s\n' "${checkpoints[@]}" | grep -q "/runs/$job/checkpoint-$steps/unet$" \
    || fail "no final checkpoint-$steps printed for $job"
  got=$(grep '"loss"' "$work/run/runs/$job/metrics.jsonl" | sed 's/.*"step":\([0-9]*\).*/\1/' | tr '\n' ' ')
  [[ "$got" == "$(seq -s ' ' 1 $steps) " ]] || fail "$job metrics.jsonl steps: '$got'"
  grep -q '"heldout_implicit_accuracy"' "$work/run/runs/$job/metrics.jsonl" || fail "$job has no evaluation"
done
say "checkpoints and metrics are complete"

# ---- 2. SIGTERM while training: everything it started stops -------------------
# A simple command, so that $! is the demo's own shell (a function would run
# in a subshell that a signal would stop without the demo noticing).
ALIGN_BUILD_DIR="$build" ALIGN_DEMO_SKIP_BUILD=1 ALIGN_DEMO_STEPS=$steps ALIGN_DEMO_DIR="$work/interrupted" \
  bash "$demo_sh" > interrupted.out 2>&1 &
demo_pid=$!
deadline=$((SECONDS + 120))
until grep -q '"step":1,' "$work/interrupted/runs/dpo/metrics.jsonl" 2>/dev/null; do
  kill -0 "$demo_pid" 2>/dev/null || fail "the demo ended before training started"
  ((SECONDS < deadline)) || fail "training did not start within 120 s"
  sleep 0.1
done
[[ -n "$(processes_under "$work/interrupted")" ]] || fail "no demo processes found while training"
kill -TERM "$demo_pid"
rc=0
wait "$demo_pid" || rc=$?
demo_pid=
[[ $rc -eq 143 ]] || fail "the interrupted demo exited $rc, not 143"
grep -q "stopped the coordinator and the workers" interrupted.out || fail "the demo did not report its cleanup"
expect_no_processes "$work/interrupted"
say "SIGTERM during training: exit $rc, nothing left running"

# ---- 3. a folder it did not make is left alone --------------------------------
mkdir -p foreign
echo keep > foreign/file
rc=0
run_demo "$work/foreign" > foreign.out 2>&1 || rc=$?
[[ $rc -ne 0 && -f foreign/file ]] || fail "the demo wiped a folder it did not make"
grep -q "was not made by this demo" foreign.out || fail "no explanation: $(cat foreign.out)"
say "PASS"
