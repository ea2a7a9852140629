#include "common/job_spec.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/file_util.h"
#include "common/job_spec_sections.h"
#include "common/prepare_variants_spec.h"
#include "common/spec_fields.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace align {
namespace {

using spec_fields::Fields;
using spec_fields::NamesOf;
using spec_fields::NameTable;
using spec_sections::kDifficulties;
using spec_sections::kShardDtypes;

const NameTable<JobType> kJobTypes = {{"train", JobType::kTrain},
                                      {"prepare", JobType::kPrepare},
                                      {"generate", JobType::kGenerate},
                                      {"score", JobType::kScore},
                                      {"pairs", JobType::kPairs},
                                      {"evaluate", JobType::kEvaluate}};
const NameTable<OptimizerName> kOptimizers = {{"adamw", OptimizerName::kAdamW},
                                              {"adafactor", OptimizerName::kAdafactor}};
const NameTable<LrSchedule> kSchedules = {{"constant_with_warmup", LrSchedule::kConstantWithWarmup},
                                          {"cosine", LrSchedule::kCosine}};
const NameTable<Precision> kPrecisions = {{"fp32", Precision::kFp32}, {"bf16", Precision::kBf16}};
const NameTable<WeightCasts> kWeightCasts = {{"per_forward", WeightCasts::kPerForward},
                                              {"per_step", WeightCasts::kPerStep}};
const NameTable<ResumePolicy> kResumePolicies = {{"own", ResumePolicy::kOwn}, {"any", ResumePolicy::kAny}};
const NameTable<CurriculumPools> kCurriculumPools = {{"equal_count", CurriculumPools::kEqualCount},
                                                      {"levels", CurriculumPools::kLevels}};
const NameTable<PrepareFormat> kPrepareFormats = {{"jsonl", PrepareFormat::kJsonl},
                                                  {"webdataset", PrepareFormat::kWebDataset}};
const NameTable<MicroConditioning> kMicroConditionings = {{"per_image", MicroConditioning::kPerImage},
                                                          {"constant", MicroConditioning::kConstant}};
const NameTable<LatentMode> kLatentModes = {
    {"mean", LatentMode::kMean}, {"sample", LatentMode::kSample}, {"sample_per_step", LatentMode::kSamplePerStep}};
const NameTable<absl::string_view> kDevices = {{"auto", "auto"}, {"cpu", "cpu"}, {"cuda", "cuda"}};

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::Status ParseLoss(const Fields& f, LossSpec* loss) {
  RETURN_IF_ERROR(f.Require("type"));
  RETURN_IF_ERROR(f.Enum("type", LossTypeNames(), &loss->type));
  const bool is_fdpo = loss->type == LossType::kFdpo;
  const std::string type_name = LossTypeName(loss->type);

  // Options of another loss are errors: silently ignoring `divergence: js` under
  // `type: dpo` would train something other than what the user asked for.
  const auto only_for = [&](const std::string& key, bool applies, absl::string_view which) {
    return f.Check(key, !f.Has(key) || applies,
                   absl::StrCat("only applies to ", which, ", not to loss type ", type_name));
  };
  RETURN_IF_ERROR(only_for("divergence", is_fdpo, "loss type fdpo"));
  RETURN_IF_ERROR(only_for("beta", loss->type == LossType::kDpo || is_fdpo, "loss types dpo and fdpo"));
  RETURN_IF_ERROR(only_for("mapo_beta", loss->type == LossType::kMapo, "loss type mapo"));
  RETURN_IF_ERROR(only_for("snr_value", loss->type == LossType::kMapo, "loss type mapo"));

  if (is_fdpo) {
    RETURN_IF_ERROR(f.Require(
        "divergence", absl::StrCat("required for loss type fdpo (one of ", NamesOf(DivergenceNames()), ")")));
    std::string divergence;
    RETURN_IF_ERROR(f.String("divergence", &divergence));
    absl::StatusOr<Divergence> parsed = ParseDivergence(divergence);
    if (!parsed.ok()) return f.Error("divergence", parsed.status().message());
    loss->divergence = *parsed;
  }
  RETURN_IF_ERROR(only_for("alpha", is_fdpo && loss->divergence == Divergence::kAlpha, "divergence alpha"));

  RETURN_IF_ERROR(f.Double("beta", &loss->beta));
  RETURN_IF_ERROR(f.Double("alpha", &loss->alpha));
  // Hellinger is the alpha-divergence at 1/2; keeping alpha consistent lets the
  // loss code treat both through one formula.
  if (is_fdpo && loss->divergence == Divergence::kHellinger) loss->alpha = 0.5;
  RETURN_IF_ERROR(f.Double("mapo_beta", &loss->mapo_beta));
  RETURN_IF_ERROR(f.Double("snr_value", &loss->snr_value));
  const std::vector<LossSpecProblem> problems = LossSpecProblems(*loss);
  if (!problems.empty()) return f.Error(problems.front().field, problems.front().message);
  return absl::OkStatus();
}

absl::Status ParseOptim(const Fields& f, OptimSpec* optim) {
  RETURN_IF_ERROR(f.Enum("name", kOptimizers, &optim->name));
  RETURN_IF_ERROR(f.Double("lr", &optim->lr));
  RETURN_IF_ERROR(f.Check("lr", optim->lr > 0, "must be > 0"));
  RETURN_IF_ERROR(f.Double("weight_decay", &optim->weight_decay));
  RETURN_IF_ERROR(f.Check("weight_decay", optim->weight_decay >= 0, "must be >= 0"));
  RETURN_IF_ERROR(f.Double("beta1", &optim->beta1));
  RETURN_IF_ERROR(f.Check("beta1", optim->beta1 >= 0 && optim->beta1 < 1, "must be in [0, 1)"));
  RETURN_IF_ERROR(f.Double("beta2", &optim->beta2));
  RETURN_IF_ERROR(f.Check("beta2", optim->beta2 >= 0 && optim->beta2 < 1, "must be in [0, 1)"));
  RETURN_IF_ERROR(f.Double("eps", &optim->eps));
  RETURN_IF_ERROR(f.Check("eps", optim->eps > 0, "must be > 0"));
  RETURN_IF_ERROR(f.Int("warmup_steps", &optim->warmup_steps));
  RETURN_IF_ERROR(f.Check("warmup_steps", optim->warmup_steps >= 0, "must be >= 0"));
  RETURN_IF_ERROR(f.Enum("schedule", kSchedules, &optim->schedule));
  RETURN_IF_ERROR(f.Double("grad_clip", &optim->grad_clip));
  RETURN_IF_ERROR(f.Check("grad_clip", optim->grad_clip >= 0, "must be >= 0 (0 disables clipping)"));
  RETURN_IF_ERROR(f.Bool("fused", &optim->fused));
  RETURN_IF_ERROR(f.Check("fused", !optim->fused || optim->name == OptimizerName::kAdamW,
                          "applies to adamw only (adafactor has no fused kernel)"));
  RETURN_IF_ERROR(f.Bool("shard", &optim->shard));
  RETURN_IF_ERROR(f.Check("shard", !optim->shard || optim->name == OptimizerName::kAdamW,
                          "applies to adamw only (adafactor's factored row and column statistics need whole "
                          "matrices, which a flat shard cuts through)"));
  RETURN_IF_ERROR(f.Bool("overlap", &optim->overlap));
  RETURN_IF_ERROR(f.Double("bucket_mb", &optim->bucket_mb));
  RETURN_IF_ERROR(f.Check("bucket_mb", optim->bucket_mb > 0 && optim->bucket_mb <= 4096, "must be in (0, 4096]"));
  return absl::OkStatus();
}

absl::Status ParseBatch(const Fields& f, BatchSpec* batch) {
  RETURN_IF_ERROR(f.Int("pairs_per_rank", &batch->pairs_per_rank));
  RETURN_IF_ERROR(f.Check("pairs_per_rank", batch->pairs_per_rank >= 1, "must be >= 1"));
  RETURN_IF_ERROR(f.Check("pairs_per_rank", batch->pairs_per_rank <= spec_limits::kMaxPairsPerRank,
                          absl::StrCat("must be <= ", spec_limits::kMaxPairsPerRank)));
  RETURN_IF_ERROR(f.Int("grad_accum", &batch->grad_accum));
  RETURN_IF_ERROR(f.Check("grad_accum", batch->grad_accum >= 1, "must be >= 1"));
  RETURN_IF_ERROR(f.Check("grad_accum", batch->grad_accum <= spec_limits::kMaxGradAccum,
                          absl::StrCat("must be <= ", spec_limits::kMaxGradAccum)));
  RETURN_IF_ERROR(f.Check("grad_accum",
                          batch->pairs_per_rank * batch->grad_accum <= spec_limits::kMaxPairsPerRankStep,
                          absl::StrCat("times pairs_per_rank must be <= ", spec_limits::kMaxPairsPerRankStep,
                                       " (pairs per rank per optimizer step)")));
  return absl::OkStatus();
}

absl::Status ParseCurriculum(const Fields& f, CurriculumSpec* curriculum) {
  RETURN_IF_ERROR(f.Require("stages"));
  RETURN_IF_ERROR(f.Int("stages", &curriculum->stages));
  RETURN_IF_ERROR(f.Check("stages", curriculum->stages >= 1, "must be >= 1"));
  RETURN_IF_ERROR(f.Check("stages", curriculum->stages <= spec_limits::kMaxStages,
                          absl::StrCat("must be <= ", spec_limits::kMaxStages)));
  RETURN_IF_ERROR(f.Require("steps_per_stage"));
  RETURN_IF_ERROR(f.Int("steps_per_stage", &curriculum->steps_per_stage));
  RETURN_IF_ERROR(f.Check("steps_per_stage", curriculum->steps_per_stage >= 1, "must be >= 1"));
  RETURN_IF_ERROR(f.Check("steps_per_stage", curriculum->steps_per_stage <= spec_limits::kMaxSteps,
                          absl::StrCat("must be <= ", spec_limits::kMaxSteps)));
  RETURN_IF_ERROR(f.Enum("difficulty", kDifficulties, &curriculum->difficulty));
  RETURN_IF_ERROR(f.Enum("pools", kCurriculumPools, &curriculum->pools));
  return absl::OkStatus();
}

absl::Status ParsePrepare(const Fields& f, PrepareSpec* prepare) {
  RETURN_IF_ERROR(f.Require("input", "required (a .jsonl file, or a directory or glob of .tar shards)"));
  RETURN_IF_ERROR(f.String("input", &prepare->input));
  RETURN_IF_ERROR(f.Check("input", !prepare->input.empty(), "must not be empty"));
  const bool jsonl_name = prepare->input.size() > 6 &&
                          absl::AsciiStrToLower(prepare->input.substr(prepare->input.size() - 6)) == ".jsonl";
  prepare->format = jsonl_name ? PrepareFormat::kJsonl : PrepareFormat::kWebDataset;
  RETURN_IF_ERROR(f.Enum("format", kPrepareFormats, &prepare->format));
  RETURN_IF_ERROR(f.Int("resolution", &prepare->resolution));
  RETURN_IF_ERROR(f.Check("resolution", prepare->resolution >= 8 && prepare->resolution <= 8192,
                          "must be in [8, 8192] pixels"));
  RETURN_IF_ERROR(f.Bool("center_crop", &prepare->center_crop));
  // true / false, or per_step (both orientations stored, the flip drawn in training).
  std::string flip;
  RETURN_IF_ERROR(f.String("random_flip", &flip));
  if (flip == "per_step") {
    prepare->flip_per_step = true;
  } else {
    RETURN_IF_ERROR(f.Bool("random_flip", &prepare->random_flip));
  }
  RETURN_IF_ERROR(ParsePrepareVariants(f, prepare));
  RETURN_IF_ERROR(f.Enum("latent", kLatentModes, &prepare->latent));
  RETURN_IF_ERROR(f.Enum("micro_conditioning", kMicroConditionings, &prepare->micro_conditioning));
  RETURN_IF_ERROR(f.Check("heldout", !(f.Has("heldout") && f.Has("heldout_fraction")),
                          "give heldout (a count) or heldout_fraction, not both"));
  RETURN_IF_ERROR(f.Double("heldout_fraction", &prepare->heldout_fraction));
  RETURN_IF_ERROR(f.Check("heldout_fraction", prepare->heldout_fraction >= 0 && prepare->heldout_fraction < 1,
                          "must be in [0, 1)"));
  RETURN_IF_ERROR(f.Int("heldout", &prepare->heldout));
  RETURN_IF_ERROR(f.Check("heldout", prepare->heldout >= 0, "must be >= 0"));
  RETURN_IF_ERROR(f.Check("heldout", prepare->heldout <= spec_limits::kMaxHeldout,
                          absl::StrCat("must be <= ", spec_limits::kMaxHeldout)));
  RETURN_IF_ERROR(f.Int("pairs_per_shard", &prepare->pairs_per_shard));
  RETURN_IF_ERROR(f.Check("pairs_per_shard", prepare->pairs_per_shard >= 1, "must be >= 1"));
  RETURN_IF_ERROR(f.Check("pairs_per_shard", prepare->pairs_per_shard <= spec_limits::kMaxPairsPerShard,
                          absl::StrCat("must be <= ", spec_limits::kMaxPairsPerShard)));
  RETURN_IF_ERROR(f.Double("max_error_ratio", &prepare->max_error_ratio));
  RETURN_IF_ERROR(f.Check("max_error_ratio", prepare->max_error_ratio >= 0 && prepare->max_error_ratio <= 1,
                          "must be in [0, 1]"));
  RETURN_IF_ERROR(f.Int("batch_size", &prepare->batch_size));
  RETURN_IF_ERROR(f.Check("batch_size", prepare->batch_size >= 1, "must be >= 1"));
  RETURN_IF_ERROR(f.Check("batch_size", prepare->batch_size <= spec_limits::kMaxPrepareBatch,
                          absl::StrCat("must be <= ", spec_limits::kMaxPrepareBatch)));
  RETURN_IF_ERROR(f.Enum("dtype", kShardDtypes, &prepare->dtype));
  return absl::OkStatus();
}

// cuda_graph captures the whole step, so the step may hold nothing a graph
// cannot record: an MPI collective (optim.shard, optim.overlap), a host-side
// optimizer loop (only the fused AdamW steps on the device), or random draws
// inside the step (LoRA dropout). More than one rank is refused by the
// worker, which knows the group's size.
absl::Status CheckCudaGraph(const Fields& f, const JobSpec& spec) {
  if (!spec.cuda_graph) return absl::OkStatus();
  RETURN_IF_ERROR(f.Check("cuda_graph", spec.type == JobType::kTrain, "only applies to type train"));
  RETURN_IF_ERROR(f.Check("cuda_graph", spec.optim.fused,
                          "needs optim.fused: true (the fused AdamW is the optimizer step that runs on the device)"));
  RETURN_IF_ERROR(f.Check("cuda_graph", !spec.optim.shard && !spec.optim.overlap,
                          "does not combine with optim.shard or optim.overlap: their collectives are MPI's, which a "
                          "CUDA graph cannot capture"));
  RETURN_IF_ERROR(f.Check("cuda_graph", !spec.lora || spec.lora->dropout == 0,
                          "does not combine with lora.dropout > 0 (random draws inside the captured step)"));
  return absl::OkStatus();
}

absl::StatusOr<JobSpec> ParseDocument(const YAML::Node& root) {
  ASSIGN_OR_RETURN(
      Fields f, Fields::Of(root, "",
                           {"name", "type", "model", "dataset", "output", "loss", "optim", "batch", "steps",
                            "seed", "precision", "bf16_weight_casts", "gradient_checkpointing", "memory_budget_gib", "channels_last", "fused_geglu", "cuda_graph", "checkpoint_every", "eval_every",
                            "evaluate_every", "evaluation", "max_bad_steps", "device", "allow_tf32", "progress_timeout_s", "resume", "curriculum",
                            "prepare", "generate", "score", "pairs", "evaluate", "after", "data", "lora", "reference"}));
  JobSpec spec;
  for (const char* key : {"name", "type"}) {
    RETURN_IF_ERROR(f.Require(key));
  }
  RETURN_IF_ERROR(f.String("name", &spec.name));
  RETURN_IF_ERROR(f.Check("name", ValidName(spec.name),
                          "must be 1 to 128 characters of letters, digits, '-', '_' and '.' "
                          "(it is shown in job listings, logs and the dataset's provenance)"));
  RETURN_IF_ERROR(f.Enum("type", kJobTypes, &spec.type));
  const std::string type_name = JobTypeName(spec.type);
  // A path a type never reads is an error rather than ignored: a score job
  // given `model:` was most likely meant to name its reward model.
  const auto path_field = [&](const std::string& key, bool used, absl::string_view meaning,
                              std::string* out) -> absl::Status {
    if (!used) {
      return f.Check(key, !f.Has(key), absl::StrCat("does not apply to type ", type_name));
    }
    RETURN_IF_ERROR(f.Require(key, absl::StrCat("required for type ", type_name, " (", meaning, ")")));
    RETURN_IF_ERROR(f.String(key, out));
    return f.Check(key, !out->empty(), "must not be empty");
  };
  const bool reads_model =
      spec.type == JobType::kTrain || spec.type == JobType::kPrepare || spec.type == JobType::kGenerate;
  const bool has_dataset =
      spec.type == JobType::kTrain || spec.type == JobType::kPrepare || spec.type == JobType::kPairs;
  if (spec.type == JobType::kEvaluate) {
    // Optional: the folder of the checkpoints that name none of their own.
    RETURN_IF_ERROR(f.String("model", &spec.model));
    RETURN_IF_ERROR(f.Check("model", !f.Has("model") || !spec.model.empty(), "must not be empty"));
  } else {
    RETURN_IF_ERROR(path_field("model", reads_model, "a diffusers model folder", &spec.model));
  }
  RETURN_IF_ERROR(path_field("dataset", has_dataset, "a prepared dataset directory", &spec.dataset));
  RETURN_IF_ERROR(f.Require("output"));
  RETURN_IF_ERROR(f.String("output", &spec.output));
  RETURN_IF_ERROR(f.Check("output", !spec.output.empty(), "must not be empty"));
  // Which jobs run first. Names are resolved against the other documents of
  // the submission (job_chain.h); here only their form is checked.
  ASSIGN_OR_RETURN(spec.after, f.StringList("after"));
  RETURN_IF_ERROR(f.Check("after", static_cast<int64_t>(spec.after.size()) <= spec_limits::kMaxAfter,
                          absl::StrCat("at most ", spec_limits::kMaxAfter, " jobs")));
  for (size_t i = 0; i < spec.after.size(); ++i) {
    RETURN_IF_ERROR(f.Check("after", ValidName(spec.after[i]),
                            absl::StrCat("entry ", i + 1, " must be a job name or id (1 to 128 letters, digits, "
                                         "'-', '_' and '.')")));
    RETURN_IF_ERROR(f.Check("after", spec.after[i] != spec.name, "a job cannot wait for itself"));
    RETURN_IF_ERROR(f.Check("after", std::count(spec.after.begin(), spec.after.begin() + i, spec.after[i]) == 0,
                            absl::StrCat("\"", spec.after[i], "\" is listed twice")));
  }

  if (spec.type == JobType::kTrain) {
    RETURN_IF_ERROR(f.Require("steps", "required for type train"));
  }
  RETURN_IF_ERROR(f.Int("steps", &spec.steps));
  RETURN_IF_ERROR(f.Check("steps", spec.type != JobType::kTrain || spec.steps > 0, "must be > 0"));
  RETURN_IF_ERROR(f.Check("steps", spec.steps >= 0, "must be >= 0"));
  RETURN_IF_ERROR(f.Check("steps", spec.steps <= spec_limits::kMaxSteps,
                          absl::StrCat("must be <= ", spec_limits::kMaxSteps)));

  // The loss is what the job is about; a silent default would hide a forgotten section.
  if (spec.type == JobType::kTrain) RETURN_IF_ERROR(f.Require("loss", "required for type train"));
  ASSIGN_OR_RETURN(auto loss, f.Section("loss", {"type", "divergence", "beta", "alpha", "mapo_beta", "snr_value"}));
  if (loss) {
    RETURN_IF_ERROR(ParseLoss(*loss, &spec.loss));
  } else if (spec.type == JobType::kTrain) {
    return f.Error("loss", "has no value (expected e.g. {type: dpo, beta: 5})");
  }
  ASSIGN_OR_RETURN(auto optim, f.Section("optim", {"name", "lr", "weight_decay", "beta1", "beta2", "eps",
                                                   "warmup_steps", "schedule", "grad_clip", "fused", "shard",
                                                   "overlap", "bucket_mb"}));
  if (optim) RETURN_IF_ERROR(ParseOptim(*optim, &spec.optim));
  ASSIGN_OR_RETURN(auto batch, f.Section("batch", {"pairs_per_rank", "grad_accum"}));
  if (batch) RETURN_IF_ERROR(ParseBatch(*batch, &spec.batch));

  RETURN_IF_ERROR(f.UInt64("seed", &spec.seed));
  RETURN_IF_ERROR(f.Enum("precision", kPrecisions, &spec.precision));
  RETURN_IF_ERROR(f.Enum("bf16_weight_casts", kWeightCasts, &spec.bf16_weight_casts));
  RETURN_IF_ERROR(f.Check("bf16_weight_casts", !f.Has("bf16_weight_casts") || spec.precision == Precision::kBf16,
                          "applies with precision: bf16 (fp32 weights are not cast)"));
  RETURN_IF_ERROR(ParseGradientCheckpointing(f, spec.type == JobType::kTrain, &spec.gradient_checkpointing));
  RETURN_IF_ERROR(f.Bool("channels_last", &spec.channels_last));
  RETURN_IF_ERROR(f.Bool("fused_geglu", &spec.fused_geglu));
  RETURN_IF_ERROR(f.Bool("cuda_graph", &spec.cuda_graph));
  RETURN_IF_ERROR(f.Int("checkpoint_every", &spec.checkpoint_every));
  RETURN_IF_ERROR(
      f.Check("checkpoint_every", spec.checkpoint_every >= 0, "must be >= 0 (0: only at the end)"));
  RETURN_IF_ERROR(f.Int("eval_every", &spec.eval_every));
  RETURN_IF_ERROR(f.Check("eval_every", spec.eval_every >= 0, "must be >= 0 (0: only at the end)"));
  RETURN_IF_ERROR(spec_sections::ParseEvaluateEvery(f, spec, &spec.evaluate_every, &spec.evaluation));
  RETURN_IF_ERROR(f.Int("max_bad_steps", &spec.max_bad_steps));
  RETURN_IF_ERROR(f.Check("max_bad_steps", spec.max_bad_steps >= 1, "must be >= 1"));
  absl::string_view device = "auto";
  RETURN_IF_ERROR(f.Enum("device", kDevices, &device));
  spec.device = std::string(device);
  if (f.Has("progress_timeout_s")) {
    double timeout = 0;
    RETURN_IF_ERROR(f.Double("progress_timeout_s", &timeout));
    RETURN_IF_ERROR(f.Check("progress_timeout_s",
                            std::isfinite(timeout) && timeout >= 1 && timeout <= spec_limits::kMaxProgressTimeoutSeconds,
                            absl::StrCat("must be from 1 to ", spec_limits::kMaxProgressTimeoutSeconds, " seconds")));
    spec.progress_timeout_s = timeout;
  }
  if (f.Has("allow_tf32")) {
    bool allow_tf32 = false;
    RETURN_IF_ERROR(f.Bool("allow_tf32", &allow_tf32));
    spec.allow_tf32 = allow_tf32;
  }

  RETURN_IF_ERROR(f.Check("resume", spec.type == JobType::kTrain || !f.Has("resume"),
                          absl::StrCat("does not apply to type ", type_name)));
  RETURN_IF_ERROR(f.Enum("resume", kResumePolicies, &spec.resume));

  ASSIGN_OR_RETURN(auto curriculum, f.Section("curriculum", {"stages", "steps_per_stage", "difficulty", "pools"}));
  if (curriculum) {
    spec.curriculum.emplace();
    RETURN_IF_ERROR(ParseCurriculum(*curriculum, &*spec.curriculum));
  }

  RETURN_IF_ERROR(f.Check("data", spec.type == JobType::kTrain || !f.Has("data"), "only applies to type train"));
  ASSIGN_OR_RETURN(auto data, f.Section("data", TrainDataFields()));
  if (data) RETURN_IF_ERROR(ParseTrainData(*data, &spec.data));
  for (const char* key : {"lora", "reference"}) {
    RETURN_IF_ERROR(f.Check(key, spec.type == JobType::kTrain || !f.Has(key), "only applies to type train"));
  }
  ASSIGN_OR_RETURN(auto lora, f.Section("lora", {"rank", "alpha", "targets", "dropout", "save_merged"}));
  if (f.Has("lora")) spec.lora.emplace();  // `lora:` alone: the defaults
  if (lora) RETURN_IF_ERROR(ParseLoraSection(*lora, &*spec.lora));
  RETURN_IF_ERROR(ParseReference(f, spec.lora.has_value(), &spec.reference));
  RETURN_IF_ERROR(CheckCudaGraph(f, spec));

  // A type's own section is the job for that type, and meaningless otherwise.
  for (const auto& [section, section_type] : NameTable<JobType>{{"prepare", JobType::kPrepare},
                                                                {"generate", JobType::kGenerate},
                                                                {"score", JobType::kScore},
                                                                {"pairs", JobType::kPairs},
                                                                {"evaluate", JobType::kEvaluate}}) {
    const std::string key(section);
    RETURN_IF_ERROR(f.Check(key, spec.type == section_type || !f.Has(key),
                            absl::StrCat("only applies to type ", JobTypeName(section_type))));
  }
  if (spec.type == JobType::kPrepare) {
    RETURN_IF_ERROR(f.Require("prepare", "required for type prepare (e.g. {input: pairs.jsonl})"));
    std::vector<std::string> prepare_fields = {"input", "format", "resolution", "center_crop", "random_flip", "latent",
                                               "micro_conditioning",
                                               "heldout_fraction", "heldout", "pairs_per_shard", "max_error_ratio",
                                               "batch_size", "dtype"};
    prepare_fields.insert(prepare_fields.end(), PrepareVariantsFields().begin(), PrepareVariantsFields().end());
    ASSIGN_OR_RETURN(auto prepare, f.Section("prepare", prepare_fields));
    if (!prepare) return f.Error("prepare", "has no value (expected e.g. {input: pairs.jsonl})");
    spec.prepare.emplace();
    RETURN_IF_ERROR(ParsePrepare(*prepare, &*spec.prepare));
  }
  if (spec.type == JobType::kGenerate) {
    RETURN_IF_ERROR(f.Require("generate", "required for type generate (e.g. {prompts: prompts.txt})"));
    ASSIGN_OR_RETURN(auto generate, f.Section("generate", spec_sections::kGenerateFields));
    if (!generate) return f.Error("generate", "has no value (expected e.g. {prompts: prompts.txt})");
    spec.generate.emplace();
    RETURN_IF_ERROR(spec_sections::ParseGenerate(*generate, &*spec.generate));
  }
  if (spec.type == JobType::kScore) {
    RETURN_IF_ERROR(f.Require("score", "required for type score (e.g. {images: gen/, reward: pickscore, ...})"));
    ASSIGN_OR_RETURN(auto score, f.Section("score", spec_sections::kScoreFields));
    if (!score) return f.Error("score", "has no value (expected e.g. {images: gen/, reward: pickscore, ...})");
    spec.score.emplace();
    RETURN_IF_ERROR(spec_sections::ParseScore(*score, &*spec.score));
  }
  if (spec.type == JobType::kPairs) {
    RETURN_IF_ERROR(f.Require("pairs", "required for type pairs (e.g. {generated: gen/, scores: scores/})"));
    ASSIGN_OR_RETURN(auto pairs, f.Section("pairs", spec_sections::kPairsFields));
    if (!pairs) return f.Error("pairs", "has no value (expected e.g. {generated: gen/, scores: scores/})");
    spec.pairs.emplace();
    RETURN_IF_ERROR(spec_sections::ParsePairs(*pairs, &*spec.pairs));
  }
  if (spec.type == JobType::kEvaluate) {
    RETURN_IF_ERROR(f.Require("evaluate", "required for type evaluate (e.g. {prompts: p.txt, checkpoints: [...], ...})"));
    ASSIGN_OR_RETURN(auto evaluate, f.Section("evaluate", spec_sections::kEvaluateFields));
    if (!evaluate) return f.Error("evaluate", "has no value (expected {prompts: p.txt, checkpoints: [...], ...})");
    spec.evaluate.emplace();
    RETURN_IF_ERROR(spec_sections::ParseEvaluate(*evaluate, &*spec.evaluate));
    for (EvaluateCheckpoint& checkpoint : spec.evaluate->checkpoints) {
      if (checkpoint.model.empty()) checkpoint.model = spec.model;
      RETURN_IF_ERROR(f.Check("evaluate", !checkpoint.model.empty(),
                              absl::StrCat("checkpoint \"", checkpoint.name,
                                           "\" names no model and the job has no model: to take it from")));
    }
  }
  return spec;
}

}  // namespace

std::string JobTypeName(JobType type) {
  for (const auto& [name, value] : kJobTypes) {
    if (value == type) return std::string(name);
  }
  return "unknown";
}

absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text) {
  if (static_cast<int64_t>(yaml_text.size()) > spec_limits::kMaxSpecBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the spec is ", yaml_text.size(), " bytes; at most ",
                                                   spec_limits::kMaxSpecBytes, " are accepted"));
  }
  // yaml-cpp reports malformed input and failed conversions by throwing; the
  // rest of the project speaks absl::Status.
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(yaml_text);
    if (documents.empty() || documents[0].IsNull()) {
      return absl::InvalidArgumentError("job spec is empty");
    }
    if (documents.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("job spec holds ", documents.size(), " YAML documents ('---'); expected exactly one"));
    }
    return ParseDocument(documents[0]);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat("job spec is not valid YAML: ", e.msg));
    }
    return absl::InvalidArgumentError(absl::StrCat("job spec is not valid YAML: line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
}

std::string ResolveJobPath(const std::string& path, const std::string& base_dir) {
  if (path.empty() || std::filesystem::path(path).is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

JobSpec ResolveJobPaths(JobSpec spec, const std::string& base_dir) {
  spec.model = ResolveJobPath(spec.model, base_dir);
  spec.dataset = ResolveJobPath(spec.dataset, base_dir);
  spec.output = ResolveJobPath(spec.output, base_dir);
  if (spec.prepare) spec.prepare->input = ResolveJobPath(spec.prepare->input, base_dir);
  if (spec.generate) spec.generate->prompts = ResolveJobPath(spec.generate->prompts, base_dir);
  if (spec.score) {
    spec.score->images = ResolveJobPath(spec.score->images, base_dir);
    spec.score->reward_model = ResolveJobPath(spec.score->reward_model, base_dir);
  }
  if (spec.evaluate) {
    spec.evaluate->prompts = ResolveJobPath(spec.evaluate->prompts, base_dir);
    spec.evaluate->embedder = ResolveJobPath(spec.evaluate->embedder, base_dir);
    for (EvaluateCheckpoint& checkpoint : spec.evaluate->checkpoints) {
      checkpoint.model = ResolveJobPath(checkpoint.model, base_dir);
      checkpoint.unet = ResolveJobPath(checkpoint.unet, base_dir);
      checkpoint.lora = ResolveJobPath(checkpoint.lora, base_dir);
    }
    for (EvaluateReward& reward : spec.evaluate->rewards) reward.model = ResolveJobPath(reward.model, base_dir);
  }
  if (spec.evaluation) {
    spec.evaluation->prompts = ResolveJobPath(spec.evaluation->prompts, base_dir);
    spec.evaluation->embedder = ResolveJobPath(spec.evaluation->embedder, base_dir);
    for (EvaluateReward& reward : spec.evaluation->rewards) reward.model = ResolveJobPath(reward.model, base_dir);
  }
  if (spec.pairs) {
    spec.pairs->generated = ResolveJobPath(spec.pairs->generated, base_dir);
    spec.pairs->scores = ResolveJobPath(spec.pairs->scores, base_dir);
  }
  return spec;
}

absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  absl::StatusOr<JobSpec> spec = ParseJobSpec(text);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(), absl::StrCat(path, ": ", spec.status().message()));
  }
  return spec;
}

}  // namespace align
