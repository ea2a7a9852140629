#!/usr/bin/env bash
# The first-run command: installs what is missing, builds, and checks that the
# bundled tiny SDXL-architecture UNet computes what diffusers computes
# (forward, loss and gradients against the golden reference outputs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${ALIGN_BUILD_DIR:-$root/build}"
model="$root/tests/data/golden/tiny-sdxl"

"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"
echo "== align-worker verify-model on $model (fp32, then bf16)"
"$build/worker/align-worker" verify-model --model "$model" --io "$model/io.safetensors"
"$build/worker/align-worker" verify-model --model "$model" --io "$model/io.safetensors" --dtype bf16
echo "== the UNet matches the reference; see docs/ for what comes next"
