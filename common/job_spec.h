#pragma once
// A job as users write it (job.yaml) and as the coordinator stores it. Parsing
// validates every field and names the field in every error; unknown fields are
// errors. docs/job-spec.md documents each field, its default and valid range.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/flip_images.h"
#include "common/gradient_checkpointing_spec.h"
#include "common/loss_spec.h"
#include "common/lora_spec.h"
#include "common/reward_name.h"
#include "common/train_data_spec.h"

namespace align {

// train and prepare; generate, score and pairs are Curriculum DPO's pipeline
// (docs/curriculum.md): candidates, their rewards, pairs ordered by difficulty;
// evaluate compares checkpoints on held-out prompts (docs/evaluation.md).
enum class JobType { kTrain, kPrepare, kGenerate, kScore, kPairs, kEvaluate };
enum class OptimizerName { kAdamW, kAdafactor };
enum class LrSchedule { kConstantWithWarmup, kCosine };
enum class Precision { kFp32, kBf16 };
// precision bf16: how long autocast's bf16 copy of an fp32 weight lives. One
// forward (a weight is cast again by the next micro-batch and by backward's
// activation recomputation), or the whole step: cast once, used by every
// forward and recomputation of the step (docs/training.md, "Precision").
enum class WeightCasts { kPerForward, kPerStep };
enum class CurriculumDifficulty { kRankGap, kScoreGap };
// How a curriculum's stages grow: by equal counts of the sorted pairs, or by
// the dataset's difficulty levels (a pairs job's stages).
enum class CurriculumPools { kEqualCount, kLevels };
// Which checkpoints in a train job's output it resumes from: only those this
// job wrote (another job's checkpoint there fails it), or the newest whichever
// job wrote it (to continue another job's run in a copy of its output).
enum class ResumePolicy { kOwn, kAny };

// Upper bounds on every spec number that becomes memory or time in the coordinator or a
// worker (plans, batches, shards). A spec beyond one is refused at submit with the bound in
// the message; docs/job-spec.md lists them.
namespace spec_limits {
// A spec is a page of YAML; this bounds what a parser is handed (and a gRPC message).
inline constexpr int64_t kMaxSpecBytes = 1 << 20;
inline constexpr int64_t kMaxSteps = 100'000'000;
inline constexpr int64_t kMaxPairsPerRank = 1024;
inline constexpr int64_t kMaxGradAccum = 4096;
// pairs_per_rank x grad_accum: the pair indices one rank's step carries in a plan message.
inline constexpr int64_t kMaxPairsPerRankStep = 65536;
inline constexpr int64_t kMaxStages = 1000;
inline constexpr int64_t kMaxPairsPerShard = 65536;
inline constexpr int64_t kMaxPrepareBatch = 1024;
inline constexpr int64_t kMaxHeldout = 10'000'000;
inline constexpr double kMaxProgressTimeoutSeconds = 7 * 24 * 3600.0;
inline constexpr int64_t kMaxSamplesPerPrompt = 1024;
inline constexpr int64_t kMaxInferenceSteps = 1000;
inline constexpr int64_t kMaxImageSide = 4096;
inline constexpr int64_t kMaxImagesPerChunk = 4096;
inline constexpr int64_t kMaxImageBatch = 256;
inline constexpr int64_t kMaxPairsPerPrompt = 1'000'000;
// Entries of `after:`: the jobs one job waits for.
inline constexpr int64_t kMaxAfter = 64;
// An evaluate job's checkpoints, rewards and bootstrap resamples.
inline constexpr int64_t kMaxEvalCheckpoints = 64;
inline constexpr int64_t kMaxEvalRewards = 8;
inline constexpr int64_t kMaxBootstrapResamples = 100'000;
}  // namespace spec_limits

struct OptimSpec {
  OptimizerName name = OptimizerName::kAdamW;
  double lr = 1e-5;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  int64_t warmup_steps = 0;
  LrSchedule schedule = LrSchedule::kConstantWithWarmup;
  double grad_clip = 1.0;  // 0: no clipping
  // adamw: ATen's multi-tensor fused kernel (torch.optim.AdamW(fused=True)),
  // one launch per device instead of ~8 per parameter; the same update up to
  // float rounding (docs/job-spec.md).
  bool fused = false;
  // adamw: shard the optimizer state and the averaged gradient over the
  // job's ranks (worker/engine/sharded_optimizer.h; docs/training.md).
  bool shard = false;
  // Reduce gradients bucket by bucket while the step's last backward runs
  // instead of after it; with shard, each bucket's full-size gradient is
  // dropped once reduce-scattered (worker/engine/overlapped_reduction.h).
  bool overlap = false;
  // Gradients reduced together, in MB of fp32 gradient (DDP's bucket_cap_mb).
  double bucket_mb = 25;
};

struct BatchSpec {
  int64_t pairs_per_rank = 1;
  int64_t grad_accum = 1;
};

struct CurriculumSpec {
  int64_t stages = 1;
  int64_t steps_per_stage = 0;
  CurriculumDifficulty difficulty = CurriculumDifficulty::kRankGap;
  CurriculumPools pools = CurriculumPools::kEqualCount;
};

enum class ShardDtype { kF32, kF16, kBf16 };
enum class PrepareFormat { kJsonl, kWebDataset };
// kSamplePerStep: the dataset stores the posterior's mean and log-variance and
// training samples a latent each step (common/dataset/latent_draws.h).
enum class LatentMode { kMean, kSample, kSamplePerStep };
// SDXL's time ids: each image's (original size, crop, target size) as the
// diffusers SDXL script computes them, or the constant (R, R, 0, 0, R, R) that
// Diffusion-DPO's train.py --sdxl feeds for every image.
enum class MicroConditioning { kPerImage, kConstant };

// `type: prepare`: turns preference pairs (images + caption) into a prepared
// dataset (docs/data-preparation.md). The dataset is written to JobSpec::dataset;
// JobSpec::output gets the resume state and the report.
struct PrepareSpec {
  std::string input;  // a .jsonl file, or a directory of / glob over .tar shards
  PrepareFormat format = PrepareFormat::kJsonl;  // default: from `input` (.jsonl -> jsonl)
  int64_t resolution = 1024;
  bool center_crop = true;   // false: random crop from the seed
  bool random_flip = false;  // flip both images of a pair with probability 1/2
  // `random_flip: per_step`: store the latents of both orientations; training
  // draws the flip each step (random_flip itself is then false).
  bool flip_per_step = false;
  // With either flip: the pair's images flip together or each on its own, and
  // random crops stored per pair (prepare_variants_spec.h).
  data::FlipImages flip_images = data::FlipImages::kTogether;
  int64_t crop_variants = 1;
  LatentMode latent = LatentMode::kMean;
  MicroConditioning micro_conditioning = MicroConditioning::kPerImage;
  // At most one of the two; both 0: no held-out split.
  double heldout_fraction = 0;
  int64_t heldout = 0;
  int64_t pairs_per_shard = 256;
  double max_error_ratio = 0.05;  // failed items / (items - ties) above which the job fails
  int64_t batch_size = 8;         // pairs per encoder forward
  ShardDtype dtype = ShardDtype::kF32;
};

// How images are sampled (docs/sampling.md): shared by every job that
// generates. The sampler itself is the model folder's scheduler/.
struct SamplingSpec {
  std::string negative_prompt;  // "" with SDXL: zero embeddings, as the pipeline does
  int64_t inference_steps = 30;
  double guidance_scale = 5.0;  // <= 1: no classifier-free guidance
  int64_t height = 1024;
  int64_t width = 1024;
  int64_t batch_size = 4;  // images per denoising batch (with CFG the UNet sees twice as many)
};

enum class ImageFileFormat { kPng, kJpeg };

// `type: generate`: prompts x samples_per_prompt images, their final latents
// and the prompts' text conditioning, written under JobSpec::output
// (docs/curriculum.md). JobSpec::model is the diffusers folder sampled from.
struct GenerateSpec {
  std::string prompts;  // a .txt file (one prompt per line) or .jsonl ({"prompt": ...})
  int64_t samples_per_prompt = 4;
  SamplingSpec sampling;
  int64_t prompts_per_chunk = 8;  // the unit of work, of resumption and of progress
  ImageFileFormat image_format = ImageFileFormat::kPng;
  int64_t jpeg_quality = 95;
};

// `type: score`: a reward model over an image set -> one score per image,
// written under JobSpec::output as scores.jsonl.
struct ScoreSpec {
  // A generate job's output directory (its index.jsonl), or a .jsonl file of
  // {"image": path, "prompt": text} records (paths relative to the file).
  std::string images;
  RewardName reward = RewardName::kPickScore;
  std::string reward_model;  // the reward's folder (docs/reward-models.md)
  int64_t images_per_chunk = 64;
  int64_t batch_size = 16;
};

enum class StageBinning { kEqualCount, kEqualWidth };

// `type: pairs`: per prompt, candidates ranked by score, paired, each pair
// with its difficulty; written to JobSpec::dataset as a prepared dataset that
// reuses the generated latents (docs/curriculum.md).
struct PairsSpec {
  std::string generated;  // the generate job's output directory
  std::string scores;     // the score job's output directory
  CurriculumDifficulty difficulty = CurriculumDifficulty::kRankGap;
  // Score gaps at or below this are near-ties and make no pair.
  double tie_threshold = 0;
  int64_t max_pairs_per_prompt = 0;  // 0: every pair; else the easiest ones
  // > 1: each pair's difficulty becomes its stage, 0 (easiest) ... stages - 1,
  // from bins of equal count or of equal width over the gap.
  int64_t stages = 1;
  StageBinning binning = StageBinning::kEqualCount;
  double heldout_fraction = 0;  // of the prompts, drawn from the seed
  int64_t pairs_per_shard = 256;
  ShardDtype dtype = ShardDtype::kF32;
};

// One model an evaluate job samples: a whole diffusers folder (`model`),
// another UNet (`unet`: a unet folder, or a train job's checkpoint-<step>
// folder holding unet/) with the rest of `model`, and either of them with a
// LoRA adapter on its UNet (`lora`).
struct EvaluateCheckpoint {
  std::string name;   // its column in the report; a folder name under images/
  std::string model;  // the diffusers folder; the job's `model:` when not given
  std::string unet;   // empty: the model's own unet/
  // An adapter (common/diffusers/lora_files.h: a LoRA train job's
  // checkpoint-<step> folder, a diffusers or peft adapter folder, or the
  // .safetensors file); empty: none.
  std::string lora;
};

struct EvaluateReward {
  RewardName reward = RewardName::kPickScore;
  std::string model;  // the reward's folder (docs/reward-models.md)
};

// `type: evaluate`: every checkpoint samples the same prompts x seeds with
// the same noise (paired), every image is scored by every reward and embedded
// by a CLIP image tower; the coordinator computes the report from the
// per-image records (docs/evaluation.md).
struct EvaluateSpec {
  std::string prompts;  // as GenerateSpec::prompts
  int64_t seeds = 4;    // samples per prompt
  std::vector<EvaluateCheckpoint> checkpoints;
  std::string base;  // the entry win rates compare against; default the first
  std::vector<EvaluateReward> rewards;
  std::string embedder;  // CLIP folder for diversity; default the clipscore reward's
  SamplingSpec sampling;
  int64_t bootstrap_resamples = 1000;  // 0: no confidence intervals
  int64_t prompts_per_chunk = 8;
};

// A train job's evaluation during training (`evaluate_every`): the policy
// samples the first max_prompts prompts x seeds with the same noise at every
// evaluation, each image scored by the rewards and embedded for diversity
// (docs/evaluation.md, "During training"). The fields it shares with
// EvaluateSpec mean the same and are parsed by the same code.
struct TrainEvaluationSpec {
  std::string prompts;       // as EvaluateSpec::prompts
  int64_t max_prompts = 16;  // the first N prompts of the file: a fixed subset
  int64_t seeds = 2;         // images per prompt; diversity needs >= 2
  std::vector<EvaluateReward> rewards;
  std::string embedder;  // as EvaluateSpec::embedder
  SamplingSpec sampling;
};

struct JobSpec {
  std::string name;
  // Jobs this one waits for: names of other documents of the same submission,
  // or ids of existing jobs ("job-000042"); docs/job-spec.md, "Job chains".
  std::vector<std::string> after;
  JobType type = JobType::kTrain;
  std::string model;
  std::string dataset;
  std::string output;
  LossSpec loss;
  OptimSpec optim;
  BatchSpec batch;
  int64_t steps = 0;
  uint64_t seed = 0;
  Precision precision = Precision::kFp32;
  // Activation recomputation, and with auto the memory budget it plans for
  // (docs/training.md, "Memory").
  GradientCheckpointing gradient_checkpointing;
  WeightCasts bf16_weight_casts = WeightCasts::kPerForward;  // precision bf16 only
  // Channels-last (NHWC) UNet activations and convolution weights: the layout
  // GPU convolution kernels prefer; the same math (docs/training.md).
  bool channels_last = false;
  // The UNet's feed-forward GEGLU as one fused op (a CUDA kernel on GPUs): the
  // same math, less activation memory (docs/training.md).
  bool fused_geglu = false;
  // Each training step as one CUDA graph, captured once and replayed (on the
  // CPU the same graph-safe step runs eagerly); one rank with the fused AdamW
  // (docs/training.md, "One graph per step").
  bool cuda_graph = false;
  int64_t checkpoint_every = 0;  // 0: only at the end
  int64_t eval_every = 0;        // 0: only at the end
  // type train: sample and score the policy every N steps and at the end; 0: never.
  int64_t evaluate_every = 0;
  std::optional<TrainEvaluationSpec> evaluation;  // present iff evaluate_every > 0
  int64_t max_bad_steps = 5;     // consecutive non-finite steps before the job fails
  std::string device = "auto";   // auto | cpu | cuda
  // The longest the coordinator waits for the next step (a prepare job: chunk)
  // report before it takes the job from its group (a hung rank); unset: the
  // coordinator's own deadline, derived from measured step times.
  std::optional<double> progress_timeout_s;
  // TF32 tensor cores for fp32 math on CUDA: unset keeps PyTorch's defaults (TF32 convolutions,
  // IEEE matmuls); true turns both to TF32, false both to IEEE fp32.
  std::optional<bool> allow_tf32;
  ResumePolicy resume = ResumePolicy::kOwn;  // train only
  std::optional<CurriculumSpec> curriculum;
  TrainDataSpec data;                    // train only: prompt dropout
  // type train: a LoRA adapter instead of full fine-tuning (docs/lora.md),
  // and what the reference of a reference-based loss is.
  std::optional<LoraSpec> lora;
  ReferenceKind reference = ReferenceKind::kModel;
  std::optional<PrepareSpec> prepare;    // present iff type == kPrepare
  std::optional<GenerateSpec> generate;  // present iff type == kGenerate
  std::optional<ScoreSpec> score;        // present iff type == kScore
  std::optional<PairsSpec> pairs;        // present iff type == kPairs
  std::optional<EvaluateSpec> evaluate;  // present iff type == kEvaluate
};

absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text);
// "train", "prepare": the spec's `type:` names.
std::string JobTypeName(JobType type);
absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path);

// Relative paths in a submitted spec are relative to the submitter's working
// directory (`base_dir`); absolute paths and an empty base_dir are left as is.
std::string ResolveJobPath(const std::string& path, const std::string& base_dir);
// model, dataset, output and every section's paths, resolved.
JobSpec ResolveJobPaths(JobSpec spec, const std::string& base_dir);


}  // namespace align
