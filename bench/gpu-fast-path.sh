#!/usr/bin/env bash
# align-bench's fast-path options against its plain step, in one run on one GPU host, for the
# side-by-side table of docs/benchmarks.md: SDXL's full UNet (random weights), 1024x1024, bf16
# autocast over fp32 master weights. Run from the repository root after a Release build:
#
#   bash bench/gpu-fast-path.sh [BUILD_DIR] [OUT_DIR]     # defaults: /tmp/b, $OUT or .
#
# GPU_MATRIX    loss:pairs:checkpointing configurations (checkpointing 1 = full, a = auto)
# FAST_VARIANTS the variants, each NAME=FLAGS with commas for spaces (plain is always first)
# BENCH_CONFIG, BENCH_DEVICE, BENCH_RESOLUTION, BENCH_TOKENS  another UNet config.json, device,
#               image side and token count (a trial run on a CPU with the tiny config)
#
# Each align-bench line is appended to OUT_DIR/fast-path.jsonl as
# {"impl":"align","cfg":"dpo:2:0","variant":"fast","result":{...}} (result null on failure,
# the tail of its output in OUT_DIR/fast-path.log). The diffusers reference step of the same
# matrix is `.gpu/bench.sh ref` (../shared/gpu): run both on the same warm machine and compare
# ratios, not absolute figures from different runs.
set -uo pipefail
build=${1:-/tmp/b}
out=${2:-${OUT:-.}}
config=${BENCH_CONFIG:-tests/data/sdxl-base/unet/config.json}
matrix=${GPU_MATRIX:-"dpo:2:0 dpo:2:1"}
variants=${FAST_VARIANTS:-"fast=--fused-optimizer,--channels-last,--bf16-weight-casts,per_step,--fused-geglu graph=--fused-optimizer,--channels-last,--bf16-weight-casts,per_step,--fused-geglu,--cuda-graph"}
bench=$build/worker/align-bench
[[ -x "$bench" ]] || { echo "no $bench: build first (.gpu/bench.sh build)" >&2; exit 2; }
mkdir -p "$out"

for m in $matrix; do
  IFS=: read -r loss pairs ckpt <<< "$m"
  case "$ckpt" in
    0) checkpointing=(--gradient-checkpointing none) ;;
    1) checkpointing=(--gradient-checkpointing full) ;;
    a) checkpointing=(--gradient-checkpointing auto) ;;
    *) echo "GPU_MATRIX: $m: checkpointing must be 0, 1 or a" >&2; exit 2 ;;
  esac
  for variant in plain= $variants; do
    name=${variant%%=*}
    flags=${variant#*=}
    read -r -a extra <<< "${flags//,/ }"
    echo "== $m $name: ${extra[*]}" >> "$out/fast-path.log"
    result=$(timeout 180 "$bench" --unet-config "$config" --loss "$loss" --pairs "$pairs" "${checkpointing[@]}" \
      --resolution "${BENCH_RESOLUTION:-1024}" --tokens "${BENCH_TOKENS:-77}" --precision bf16 \
      --device "${BENCH_DEVICE:-cuda}" --warmup 2 --steps 5 "${extra[@]}" 2>&1 |
      tee -a "$out/fast-path.log" | grep '^{' | tail -1)
    echo "{\"impl\":\"align\",\"cfg\":\"$m\",\"variant\":\"$name\",\"result\":${result:-null}}" | tee -a "$out/fast-path.jsonl"
  done
done
