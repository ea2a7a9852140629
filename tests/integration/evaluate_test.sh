#!/usr/bin/env bash
# Evaluation end to end, as a user runs it: one `alignctl submit` of a
# three-document chain (train, LoRA train -> evaluate) to a real align-coordinator, a 2-rank
# worker group (`mpirun -np 2 align-worker`) and a real Prometheus, on the CPU
# with the tiny models (SDXL-layout UNet/VAE/CLIP text encoders, a tiny
# CLIPModel as the PickScore and CLIP-score reward and the embedder). The
# train job writes checkpoint-2 and checkpoint-4, a LoRA train job
# checkpoint-2 (adapters and their merged UNet); the evaluate job compares the
# base model with the first two (their unet/ through ${jobs.train.output}),
# the adapters on the base UNet, and the merged UNet.
# Checks:
#   - report.json's every figure (means, std, per-prompt variance, paired win
#     rates, their bootstrap intervals, diversity) equals what an independent
#     Python implementation derives from records.jsonl and the stored
#     embeddings; the base's images are those of the base model at the same
#     noise whatever checkpoint (same seed, same sample ids);
#   - the adapters on the base sample what their merged UNet samples (scores
#     equal to rounding) and differ from the base;
#   - every image decodes at the asked size; the contact sheet and the scatter
#     plot decode with the sizes their layout gives;
#   - `alignctl report JOB` prints the table, `alignctl report JOB DIR --plot`
#     two tables and one trade-off chart; Prometheus has the align_eval_*
#     series of the job;
#   - the train job evaluates during training (evaluate_every: 2, its prompts
#     spread over the 2 ranks): metrics.jsonl has the records of steps 2 and 4,
#     Prometheus the align_train_eval_* series;
#   - bad input is refused at submit naming the field.
#
#   evaluate_test.sh COORDINATOR_BIN ALIGNCTL_BIN WORKER_BIN MAKE_TINY_MODELS_BIN GOLDEN_DIR WORK_DIR
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

write_tokens eval
"$make_tiny_models" "$golden" models
"$alignctl" make-synthetic --model models/sdxl --pairs 16 --heldout 0 --tokens 8 --out data > /dev/null
printf 'a red cube on a table\na blue ball in the grass\na green cone\na white cat\na wooden chair\n' > prompts.txt

cat > chain.yaml <<YAML
name: train
type: train
model: models/sdxl
dataset: data
output: runs/train
loss: {type: dpo, beta: 5}
optim: {name: adamw, lr: 1.0e-2, weight_decay: 0.0}
batch: {pairs_per_rank: 1, grad_accum: 1}
steps: 4
checkpoint_every: 2
seed: 3
device: cpu
evaluate_every: 2
evaluation:
  prompts: prompts.txt
  max_prompts: 3
  seeds: 2
  rewards: [{reward: clipscore, model: models/pickscore}]
  sampling: {inference_steps: 2, guidance_scale: 4.0, resolution: 32, batch_size: 2}
---
name: lora
type: train
model: models/sdxl
dataset: data
output: runs/lora
loss: {type: dpo, beta: 5}
optim: {name: adamw, lr: 5.0e-2, weight_decay: 0.0}
batch: {pairs_per_rank: 1, grad_accum: 1}
steps: 2
seed: 5
device: cpu
lora: {rank: 4, alpha: 8, targets: [to_q, to_k, to_v, to_out.0], save_merged: true}
---
name: eval
type: evaluate
after: [train, lora]
model: models/sdxl
output: runs/eval
seed: 17
device: cpu
evaluate:
  prompts: prompts.txt
  seeds: 3
  checkpoints:
    - {name: base}
    - {name: step2, unet: "\${jobs.train.output}/checkpoint-2"}
    - {name: step4, unet: "\${jobs.train.output}/checkpoint-4/unet"}
    - {name: lora, lora: "\${jobs.lora.output}/checkpoint-2"}
    - {name: merged, unet: "\${jobs.lora.output}/checkpoint-2"}
  base: base
  rewards: [{reward: pickscore, model: models/pickscore}, {reward: clipscore, model: models/pickscore}]
  sampling: {inference_steps: 3, guidance_scale: 4.0, resolution: 32, batch_size: 3}
  bootstrap: {resamples: 200}
  prompts_per_chunk: 2
YAML

start_coordinator
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
sed -n '/^name: eval$/,$p' chain.yaml | sed -e '/^after:/d' -e '/step4\|name: lora\|name: merged/d' -e 's|unet: "[^"]*checkpoint-2"|unet: runs/none|' > missing-unet.yaml
refused missing-unet.yaml 'evaluate.checkpoints\[1\] \(step2\)\.unet: .*runs/none is neither'
sed -n '/^name: eval$/,$p' chain.yaml | sed -e '/^after:/d' -e '/step2\|step4\|merged/d' -e 's|lora: "[^"]*"|lora: runs/none|' > missing-lora.yaml
refused missing-lora.yaml 'evaluate.checkpoints\[1\] \(lora\)\.lora: .*runs/none is neither a LoRA weights file'
sed -n '/^name: eval$/,$p' chain.yaml | sed -e '/^after:/d' -e '/step2\|step4\|name: lora\|name: merged/d' -e 's|reward: clipscore, model: models/pickscore|reward: clipscore, model: models/sdxl|' > wrong-reward.yaml
refused wrong-reward.yaml 'evaluate.rewards\[1\].model: .*CLIPModel'
sed -n '/^name: eval$/,$p' chain.yaml | sed -e 's|seeds: 3|seeds: 0|' > zero-seeds.yaml
refused zero-seeds.yaml 'evaluate.seeds: must be from 1 to'
sed -n '1,/^---$/p' chain.yaml | sed -e '/^---$/d' -e 's|reward: clipscore, model: models/pickscore}]$|reward: clipscore, model: models/sdxl}]|' > train-wrong-reward.yaml
refused train-wrong-reward.yaml 'evaluation.rewards\[0\].model: .*CLIPModel'
sed -n '1,/^evaluation:$/p' chain.yaml | sed -e '/^evaluation:$/d' > train-no-evaluation.yaml
refused train-no-evaluation.yaml 'evaluate_every: needs an evaluation section'
say "bad specs refused"

# ---- the chain ------------------------------------------------------------------
"$alignctl" submit chain.yaml > submitted.out
mapfile -t ids < <(grep -o 'job-[0-9]*' submitted.out)
((${#ids[@]} == 3)) || fail "submit printed ${#ids[@]} job ids: $(cat submitted.out)"
train=${ids[0]} evaluation=${ids[2]}
start_workers
timeout 600 "$alignctl" wait "$evaluation" > wait-eval.out || {
  for id in "${ids[@]}"; do "$alignctl" status "$id" || true; "$alignctl" events "$id" || true; done
  fail "the chain did not succeed: $(cat wait-eval.out)"
}
say "train -> evaluate succeeded"

# ---- the train job's evaluations during training ---------------------------------
python3 - <<'PY' || fail "the train job's metrics.jsonl lacks its evaluations"
import json, math
records = [json.loads(l) for l in open("runs/train/metrics.jsonl") if '"evaluation"' in l]
assert [r["step"] for r in records] == [2, 4], [r["step"] for r in records]
for r in records:
    e = r["evaluation"]
    assert e["prompts"] == 3 and e["seeds"] == 2, e
    figures = [e["rewards"]["clipscore"]["mean"], e["rewards"]["clipscore"]["std"], e["diversity"]]
    assert all(isinstance(x, float) and math.isfinite(x) for x in figures), e
assert records[0]["evaluation"]["rewards"] != records[1]["evaluation"]["rewards"], "step 2 and 4 scored the same"
print("evaluations during training at steps 2 and 4")
PY

# ---- the report, recomputed from the stored per-image records ------------------
PYTHONPATH="$(dirname "$lib")" python3 - <<'PY' || fail "the report does not match its records"
import json, math, os, struct

from png_size import png_size

def safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    info = header["embeddings"]
    assert info["dtype"] == "F32"
    rows, dim = info["shape"]
    start, end = info["data_offsets"]
    flat = struct.unpack(f"<{rows * dim}f", data[8 + n + start:8 + n + end])
    return [flat[i * dim:(i + 1) * dim] for i in range(rows)]

M = (1 << 64) - 1
def mix64(x):
    x = (x + 0x9e3779b97f4a7c15) & M
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
def derive_seed(seed, keys):
    h = mix64(seed)
    for k in keys:
        h = mix64(h ^ mix64((k + 0x632be59bd9b4e019) & M))
    return h
class CounterRng:
    def __init__(self, key): self.key, self.n = key, 0
    def next(self):
        self.n += 1
        return mix64((self.key + ((0x9e3779b97f4a7c15 * self.n) & M)) & M)
    def below(self, bound):
        limit = M - M % bound
        while True:
            x = self.next()
            if x < limit:
                return x % bound
def quantile(values, q):
    v = sorted(values)
    h = q * (len(v) - 1)
    lo = int(math.floor(h))
    return v[-1] if lo + 1 >= len(v) else v[lo] + (h - lo) * (v[lo + 1] - v[lo])

out = "runs/eval"
report = json.load(open(f"{out}/report.json"))
records = [json.loads(l) for l in open(f"{out}/records.jsonl")]
names = ["base", "step2", "step4", "lora", "merged"]
rewards = ["pickscore", "clipscore"]
P, K = 5, 3
assert report["rewards"] == rewards and report["prompts"] == P and report["seeds"] == K and report["base"] == "base"
assert len(records) == len(names) * P * K, len(records)
emb_cache = {}
score, emb = {}, {}
for r in records:
    key = (r["checkpoint"], r["prompt_index"], r["seed"])
    assert key not in score, key
    assert r["sample_id"] == r["prompt_index"] * K + r["seed"]
    assert png_size(os.path.join(out, r["image"])) == (32, 32), r["image"]
    score[key] = r["scores"]
    if r["embeddings"] not in emb_cache:
        emb_cache[r["embeddings"]] = safetensors(os.path.join(out, r["embeddings"]))
    emb[key] = emb_cache[r["embeddings"]][r["embedding_row"]]

def close(a, b, what):
    assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), f"{what}: report {a}, recomputed {b}"

B, seed = report["bootstrap"]["resamples"], report["bootstrap"]["seed"]
assert (B, seed) == (200, 17)
rng = CounterRng(derive_seed(seed, [0x626f6f74]))
draws = [[rng.below(P) for _ in range(P)] for _ in range(B)]
by_name = {c["name"]: c for c in report["checkpoints"]}
for c in names:
    figures = by_name[c]
    assert figures["is_base"] == (c == "base")
    for rw in rewards:
        s = {(p, k): score[(c, p, k)][rw] for p in range(P) for k in range(K)}
        base = {(p, k): score[("base", p, k)][rw] for p in range(P) for k in range(K)}
        n = P * K
        mean = sum(s.values()) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in s.values()) / n)
        pv = 0
        for p in range(P):
            m = sum(s[(p, k)] for k in range(K)) / K
            pv += sum((s[(p, k)] - m) ** 2 for k in range(K)) / K
        pv /= P
        wins = [sum(1 if s[(p, k)] > base[(p, k)] else 0.5 if s[(p, k)] == base[(p, k)] else 0 for k in range(K))
                for p in range(P)]
        f = figures["rewards"][rw]
        close(f["mean"], mean, f"{c} {rw} mean")
        close(f["std"], std, f"{c} {rw} std")
        close(f["prompt_variance"], pv, f"{c} {rw} prompt variance")
        close(f["win_rate"], sum(wins) / n, f"{c} {rw} win rate")
        resampled = [sum(wins[p] for p in row) / n for row in draws]
        lo, hi = f["win_rate_ci"]
        close(lo, quantile(resampled, 0.025), f"{c} {rw} CI low")
        close(hi, quantile(resampled, 0.975), f"{c} {rw} CI high")
        assert lo <= f["win_rate"] <= hi or c != "base"
    div = 0
    for p in range(P):
        e = [emb[(c, p, k)] for k in range(K)]
        pairs = [(i, j) for i in range(K) for j in range(i + 1, K)]
        norm = lambda v: math.sqrt(sum(x * x for x in v))
        div += sum(1 - sum(a * b for a, b in zip(e[i], e[j])) / (norm(e[i]) * norm(e[j])) for i, j in pairs) / len(pairs)
    close(figures["diversity"], div / P, f"{c} diversity")
assert by_name["base"]["rewards"]["pickscore"]["win_rate"] == 0.5
# The trained UNets make other images than the base from the same noise.
assert any(score[("step4", p, k)] != score[("base", p, k)] for p in range(P) for k in range(K)), "step4 == base"
assert any(score[("lora", p, k)] != score[("base", p, k)] for p in range(P) for k in range(K)), "lora == base"
# The adapter on the base samples what its merged UNet samples, to rounding
# (W x + s B A x against (W + s B A) x; images quantised to 8 bits).
for p in range(P):
    for k in range(K):
        for rw in rewards:
            a, b = score[("lora", p, k)][rw], score[("merged", p, k)][rw]
            assert abs(a - b) <= 1e-3 * max(1.0, abs(b)), f"lora {a} vs merged {b} ({rw}, prompt {p}, seed {k})"

# Contact sheet: margins 8, gap 4, cell 128, header 9 + 8, label column from the prompts (scale 1).
w, h = png_size(f"{out}/contact_sheet.png")
label_w = max(6 * len(p) - 1 if len(p) else 0 for p in open("prompts.txt").read().split("\n") if p) + 8
assert (w, h) == (8 + label_w + len(names) * 132 - 4 + 8, 8 + 17 + 5 * 132 - 4 + 8), (w, h, label_w)
assert png_size(f"{out}/reward_vs_diversity.png") == (900, 40 + 360 * 2)
print(f"{len(records)} records, {len(names)} checkpoints x {len(rewards)} rewards: every figure recomputed")
PY
say "report.json matches its records; images, contact sheet and scatter decode"

"$alignctl" report "$evaluation" > report.out || fail "alignctl report failed: $(cat report.out)"
for want in 'checkpoint' 'win pickscore \[95% CI\]' '^base \*' '^step2 ' '^step4 ' '^lora ' '^merged ' 'diversity'; do
  grep -qE "$want" report.out || fail "alignctl report does not show '$want': $(cat report.out)"
done
"$alignctl" report runs/eval > report-path.out || fail "alignctl report DIR failed"
cmp -s report.out report-path.out || fail "the report by job id and by directory differ"
# Two reports (the job and a copy of its report elsewhere): both tables and one trade-off chart.
mkdir -p other-eval && cp runs/eval/report.json other-eval/
"$alignctl" report "$evaluation" other-eval --plot tradeoff.png > report-two.out || fail "alignctl report A B --plot failed"
grep -q "^== $evaluation (eval)" report-two.out || fail "the two-report table does not head the job: $(cat report-two.out)"
grep -q "^== other-eval (other-eval)" report-two.out || fail "the two-report table does not head the copy"
PYTHONPATH="$(dirname "$lib")" python3 -c '
from png_size import png_size
assert png_size("tradeoff.png") == (900, 40 + 360 * 2), png_size("tradeoff.png")' || fail "tradeoff.png is not the chart"
if "$alignctl" report "$evaluation" other-eval --json > report-json.out 2>&1; then fail "--json printed two reports"; fi
grep -q -- '--json prints one report' report-json.out || fail "the --json refusal says: $(cat report-json.out)"
if "$alignctl" report "$train" > report-train.out 2>&1; then fail "a train job's report was shown"; fi
grep -q 'evaluate job' report-train.out || fail "the refusal for a train job says: $(cat report-train.out)"
cat report.out

prometheus_has() {  # prometheus_has QUERY: some non-NaN value
  curl -sf "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, math, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if r and all(not math.isnan(float(x["value"][1])) for x in r) else 1)'
}
for query in "align_eval_reward{job=\"$evaluation\",checkpoint=\"step4\",reward=\"pickscore\"}" \
             "align_eval_win_rate{job=\"$evaluation\",checkpoint=\"base\",reward=\"clipscore\"} == 0.5" \
             "align_eval_win_rate_ci_high{job=\"$evaluation\"}" \
             "align_eval_diversity{job=\"$evaluation\",checkpoint=\"step2\"}"; do
  wait_until 30 "Prometheus has no $query" prometheus_has "$query"
done
say "Prometheus has the evaluation's figures"
for query in "align_train_eval_reward{job=\"$train\",reward=\"clipscore\"}" \
             "align_train_eval_reward_std{job=\"$train\",reward=\"clipscore\"}" \
             "align_train_eval_diversity{job=\"$train\"}" \
             "align_train_eval_step{job=\"$train\"} == 4"; do
  wait_until 30 "Prometheus has no $query" prometheus_has "$query"
done
say "Prometheus has the train job's evaluations during training"
cleanup
say "ok"
