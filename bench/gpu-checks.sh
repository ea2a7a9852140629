#!/usr/bin/env bash
# What only a GPU host can check, in one run after a build with tests
# (`GPU_TESTS=ON bash .gpu/bench.sh build`). Run from the repository root:
#
#   bash bench/gpu-checks.sh [BUILD_DIR] [OUT_DIR]     # defaults: /tmp/b, $OUT or .
#
# 1. The tests that skip without a GPU: CUDA graph capture and replay
#    (StepGraphCudaTest, CapturedStepCudaTest, the trainer's cuda_graph on a
#    GPU), the fused GEGLU kernels against their CPU reference. Their output
#    goes to OUT_DIR/gpu-tests.log.
# 2. verify-model --fused-geglu on CUDA for every golden fixture with an
#    io.safetensors (fp32 and bf16), as `.gpu/bench.sh verify` does for the
#    plain path: OUT_DIR/verify-fused-geglu.txt.
# The exit status is that of the tests (0: all passed).
set -uo pipefail
build=${1:-/tmp/b}
out=${2:-${OUT:-.}}
worker=$build/worker/align-worker
[[ -x "$worker" ]] || { echo "no $worker: build first (GPU_TESTS=ON .gpu/bench.sh build)" >&2; exit 2; }
[[ -f "$build/CTestTestfile.cmake" ]] || { echo "$build has no tests: build with GPU_TESTS=ON" >&2; exit 2; }
mkdir -p "$out"

ctest --test-dir "$build" -R 'CudaTest\.|OnAGpu$|CudaKernels' --output-on-failure --timeout 600 > "$out/gpu-tests.log" 2>&1
tests=$?
grep -E "tests passed|Passed|Failed|Skipped" "$out/gpu-tests.log" | tail -20

for io in $(find tests/data/golden -name io.safetensors | sort); do
  fixture=$(dirname "$io")
  for dtype in fp32 bf16; do
    result=$(timeout 120 "$worker" verify-model --model "$fixture" --io "$io" --device cuda --dtype "$dtype" \
      --fused-geglu 2>&1 | tail -1)
    echo "$fixture $dtype $result" | cut -c1-400 | tee -a "$out/verify-fused-geglu.txt"
  done
done
exit $tests
