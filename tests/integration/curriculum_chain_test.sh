#!/usr/bin/env bash
# Curriculum DPO end to end, as a user runs it: one `alignctl submit` of a
# four-document chain (generate -> score -> pairs -> train) to a real
# align-coordinator, a 2-rank worker group (`mpirun -np 2 align-worker`) and a
# real Prometheus scraping the coordinator, on the CPU with tiny models (the
# golden fixtures' SDXL-layout UNet/VAE/CLIP text encoders, and a tiny CLIPModel
# as the PickScore-style reward). Checks:
#   - the worker group is SIGKILLed mid-generate; a new group finishes the job
#     without regenerating the chunks that were done (their records and latents
#     are byte-for-byte and mtime unchanged);
#   - every image decodes at the asked size; every score is finite;
#   - the pairs dataset holds exactly the pairs an independent Python
#     implementation of the ranking derives from scores.jsonl, with the
#     preferred image scoring higher and the stage (difficulty) following the
#     rank gap;
#   - the pairs dataset carries the empty prompt's conditioning (encoded by
#     the generate job), so the train job runs with Curriculum DPO's prompt
#     dropout of 0.25;
#   - the train job moves through its three stages: the `stage` column of
#     metrics.jsonl and align_curriculum_stage in Prometheus;
#   - bad input is refused at submit with a message naming it: an empty prompt
#     file, a reward folder of the wrong kind.
#
#   curriculum_chain_test.sh COORDINATOR_BIN ALIGNCTL_BIN WORKER_BIN MAKE_TINY_MODELS_BIN GOLDEN_DIR WORK_DIR
set -euo pipefail
lib="$(cd "$(dirname "$0")" && pwd)/lib.sh"

coordinator_bin=$1
alignctl=$2
worker_bin=$3
make_tiny_models=$4
golden=$5
work=$6
prometheus_bin=${PROMETHEUS_BIN:-/usr/bin/prometheus}

rm -rf "$work"
mkdir -p "$work"
cd "$work"
source "$lib"

write_tokens chain
"$make_tiny_models" "$golden" models

printf 'a red cube on a table\na blue ball in the grass\na green cone\na yellow star at night\na white cat\na black dog\na wooden chair\na glass of water\n' > prompts.txt
: > empty.txt

cat > chain.yaml <<YAML
name: gen
type: generate
model: models/sdxl
output: runs/gen
seed: 11
device: cpu
generate: {prompts: prompts.txt, samples_per_prompt: 4, inference_steps: 6, guidance_scale: 5.0,
           resolution: 64, batch_size: 4, prompts_per_chunk: 1}
---
name: scores
type: score
after: [gen]
output: runs/scores
device: cpu
score: {images: "\${jobs.gen.output}", reward: pickscore, reward_model: models/pickscore, images_per_chunk: 8}
---
name: pairs
type: pairs
after: [scores]
dataset: runs/pairs-data
output: runs/pairs
seed: 5
pairs: {generated: "\${jobs.gen.output}", scores: "\${jobs.scores.output}", difficulty: rank_gap, stages: 3,
        binning: equal_count, pairs_per_shard: 16}
---
name: train
type: train
after: [pairs]
model: models/sdxl
dataset: "\${jobs.pairs.dataset}"
output: runs/train
loss: {type: dpo, beta: 5}
optim: {name: adamw, lr: 1.0e-4, weight_decay: 0.0}
batch: {pairs_per_rank: 1, grad_accum: 1}
steps: 6
seed: 3
device: cpu
curriculum: {stages: 3, steps_per_stage: 2, pools: levels}
data: {prompt_dropout: 0.25}
YAML

start_coordinator --worker-timeout 10s
cat > prometheus.yml <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: align-coordinator
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
YAML
start_prometheus prometheus.yml
say "coordinator on $ALIGN_COORDINATOR, prometheus :$prometheus_port"

# ---- bad input, refused at submit --------------------------------------------
refused() {  # refused FILE PATTERN: submit fails and says PATTERN
  if "$alignctl" submit "$1" > refused.out 2>&1; then fail "$1 was accepted: $(cat refused.out)"; fi
  grep -qE "$2" refused.out || fail "$1: the refusal does not say '$2': $(cat refused.out)"
}
sed -e 's|prompts: prompts.txt|prompts: empty.txt|' -e '/^---$/,$d' chain.yaml > empty-prompts.yaml
refused empty-prompts.yaml 'generate.prompts: .*empty.txt: holds no prompt'
cat > wrong-reward.yaml <<YAML
name: wrong-reward
type: score
output: runs/wrong
score: {images: prompts.jsonl, reward: pickscore, reward_model: models/sdxl}
YAML
echo '{"image": "x.png", "prompt": "p"}' > prompts.jsonl
refused wrong-reward.yaml 'score.reward_model: .*(CLIPModel|clip)'
say "bad specs refused"

# ---- the chain ------------------------------------------------------------------
"$alignctl" submit chain.yaml > submitted.out
mapfile -t ids < <(grep -o 'job-[0-9]*' submitted.out)
((${#ids[@]} == 4)) || fail "submit printed ${#ids[@]} job ids: $(cat submitted.out)"
gen=${ids[0]} score=${ids[1]} pairs=${ids[2]} train=${ids[3]}
say "chain: $gen -> $score -> $pairs -> $train"
output_matches 'after' "$alignctl" status "$score" || fail "status of $score does not show what it waits for"

start_workers
records() { ls runs/gen/generate-state/chunk-*.json 2>/dev/null | wc -l; }
wait_until 300 "no generate chunk finished" bash -c '(( $(ls runs/gen/generate-state/chunk-*.json 2>/dev/null | wc -l) >= 1 ))'
stop_workers
done_at_kill=$(records)
((done_at_kill < 8)) || fail "every chunk was done before the group was killed; make generation longer"
say "worker group killed with $done_at_kill of 8 generate chunks done"
stat -c '%n %s %Y' runs/gen/generate-state/chunk-*.json runs/gen/latents/chunk-*.safetensors > before-kill.txt
sha256sum runs/gen/generate-state/chunk-*.json runs/gen/latents/chunk-*.safetensors > before-kill.sha

start_workers
timeout 900 "$alignctl" wait "$train" > wait-train.out || {
  for id in "${ids[@]}"; do "$alignctl" status "$id" || true; "$alignctl" events "$id" || true; done
  fail "the chain did not succeed: $(cat wait-train.out)"
}
say "the chain succeeded"
for id in "${ids[@]}"; do
  output_matches 'state: *succeeded' "$alignctl" status "$id" || fail "$id did not succeed"
done

# Chunks finished before the kill were not generated again.
while read -r name size mtime; do
  [[ "$(stat -c '%s %Y' "$name")" == "$size $mtime" ]] || fail "$name was rewritten after the resume"
done < before-kill.txt
sha256sum -c --quiet before-kill.sha || fail "a finished chunk's files changed after the resume"
say "the $done_at_kill chunks done before the kill were kept"

# ---- images, scores, pairs: checked by an independent implementation ----------
PYTHONPATH="$(dirname "$lib")" python3 - <<'PY' || fail "the generated images, scores or pairs are wrong"
import json, math, os, struct, sys

from png_size import png_size

index = [json.loads(l) for l in open("runs/gen/index.jsonl")]
assert len(index) == 32, f"{len(index)} index rows, want 8 prompts x 4"
for row in index:
    assert png_size(os.path.join("runs/gen", row["image"])) == (64, 64), row["image"]

scores = [json.loads(l) for l in open("runs/scores/scores.jsonl")]
assert len(scores) == 32
assert all(math.isfinite(r["score"]) for r in scores), "a score is not finite"
assert len({r["score"] for r in scores}) > 1, "every image has the same score"

# The pairs the spec asks for, derived here from the scores alone.
by_prompt = {}
for r in scores:
    by_prompt.setdefault(r["prompt_index"], []).append((r["score"], r["sample_id"]))
expected = []
for p in sorted(by_prompt):
    ranked = sorted(by_prompt[p], key=lambda c: (-c[0], c[1]))
    for i in range(len(ranked)):
        for j in range(i + 1, len(ranked)):
            if ranked[i][0] - ranked[j][0] > 0:
                expected.append((ranked[i][0], ranked[j][0], j - i))
order = sorted(range(len(expected)), key=lambda k: -expected[k][2])  # stable: ties by pair id
stage = [0] * len(expected)
for position, k in enumerate(order):
    stage[k] = position * 3 // len(expected)

def read_shard(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    def tensor(name):
        info = header[name]
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        if info["dtype"] == "F32":
            return list(struct.unpack(f"<{len(raw) // 4}f", raw))
        if info["dtype"] == "I64":
            return list(struct.unpack(f"<{len(raw) // 8}q", raw))
        raise ValueError(info["dtype"])
    return tensor

manifest = json.load(open("runs/pairs-data/manifest.json"))
assert manifest["has_difficulty"] and manifest["has_scores"]
seen = {}
for shard in manifest["splits"]["train"]["shards"]:
    t = read_shard(os.path.join("runs/pairs-data", shard["file"]))
    for pid, d, w, l in zip(t("pair_id"), t("difficulty"), t("score_w"), t("score_l")):
        seen[pid] = (d, w, l)
assert sorted(seen) == list(range(len(expected))), f"pair ids {sorted(seen)[:5]}..., want {len(expected)}"
for pid, (d, w, l) in seen.items():
    ew, el, gap = expected[pid]
    assert w > l, f"pair {pid}: the preferred image scores {w} <= {l}"
    assert abs(w - ew) <= 1e-5 * max(1, abs(ew)) and abs(l - el) <= 1e-5 * max(1, abs(el)), f"pair {pid}: scores"
    assert d == stage[pid], f"pair {pid} (rank gap {gap}): stage {d}, want {stage[pid]}"
# The empty prompt, for the train job's prompt dropout: "" through both encoders.
empty = read_shard("runs/pairs-data/conditioning/empty_prompt.safetensors")
shape = manifest["shape"]
assert len(empty("prompt_embeds")) == shape["tokens"] * shape["context_dim"], "empty prompt_embeds"
assert len(empty("pooled_prompt_embeds")) == shape["pooled_dim"], "empty pooled_prompt_embeds"
assert any(v != 0 for v in empty("pooled_prompt_embeds")), "the empty prompt is zeros, not the encoders' output"
print(f"{len(index)} images, {len(scores)} scores, {len(seen)} pairs in 3 stages checked")
PY

# ---- the train job went through its stages --------------------------------------
python3 - runs/train/metrics.jsonl <<'PY' || fail "metrics.jsonl does not show stages 0, 1, 2 in order"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"implicit_accuracy"' in l and "heldout" not in l]
stages = [r["stage"] for r in rows]
assert [r["step"] for r in rows] == list(range(1, 7)), [r["step"] for r in rows]
assert stages == [0, 0, 1, 1, 2, 2], stages
PY
prometheus_stage() {
  curl -sf "http://127.0.0.1:$prometheus_port/api/v1/query" \
    --data-urlencode "query=max_over_time(align_curriculum_stage{job=\"$train\"}[30m])" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if r and float(r[0]["value"][1]) == 2 else 1)'
}
wait_until 30 "Prometheus does not show stage 2 of $train" prometheus_stage
say "the train job went through stages 0, 1, 2 (metrics.jsonl and Prometheus)"
cleanup
say "ok"
