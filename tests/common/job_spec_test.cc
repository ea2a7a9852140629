// Job spec parsing: a full spec, defaults, and one case per validation rule,
// each asserting that the message names the field at fault.

#include "common/job_spec.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::HasSubstr;

constexpr char kFullSpec[] = R"(
name: dpo-sdxl-js
type: train
model: /models/sdxl-base
dataset: /data/pickapic-latents
output: /runs/dpo-sdxl-js
loss: {type: fdpo, divergence: js, beta: 5}
optim: {name: adamw, lr: 1.0e-5, weight_decay: 0.01, warmup_steps: 200, grad_clip: 1.0,
        beta1: 0.8, beta2: 0.99, eps: 1e-6, schedule: cosine}
batch: {pairs_per_rank: 2, grad_accum: 8}
steps: 2000
seed: 1234
precision: bf16
bf16_weight_casts: per_step
gradient_checkpointing: true
channels_last: true
fused_geglu: true
checkpoint_every: 200
eval_every: 100
max_bad_steps: 3
device: cuda
curriculum: {stages: 5, steps_per_stage: 400, difficulty: score_gap}
)";

constexpr char kMinimalSpec[] =
    "name: minimal\ntype: train\nmodel: /m\ndataset: /d\noutput: /o\nsteps: 10\nloss: {type: dpo}\n";

TEST(JobSpecTest, ParsesFullSpec) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "dpo-sdxl-js");
  EXPECT_EQ(spec->type, JobType::kTrain);
  EXPECT_EQ(spec->model, "/models/sdxl-base");
  EXPECT_EQ(spec->dataset, "/data/pickapic-latents");
  EXPECT_EQ(spec->output, "/runs/dpo-sdxl-js");
  EXPECT_EQ(spec->loss.type, LossType::kFdpo);
  EXPECT_EQ(spec->loss.divergence, Divergence::kJensenShannon);
  EXPECT_DOUBLE_EQ(spec->loss.beta, 5.0);
  EXPECT_EQ(spec->optim.name, OptimizerName::kAdamW);
  EXPECT_DOUBLE_EQ(spec->optim.lr, 1e-5);
  EXPECT_DOUBLE_EQ(spec->optim.weight_decay, 0.01);
  EXPECT_EQ(spec->optim.warmup_steps, 200);
  EXPECT_DOUBLE_EQ(spec->optim.grad_clip, 1.0);
  EXPECT_DOUBLE_EQ(spec->optim.beta1, 0.8);
  EXPECT_DOUBLE_EQ(spec->optim.beta2, 0.99);
  EXPECT_DOUBLE_EQ(spec->optim.eps, 1e-6);
  EXPECT_EQ(spec->optim.schedule, LrSchedule::kCosine);
  EXPECT_EQ(spec->batch.pairs_per_rank, 2);
  EXPECT_EQ(spec->batch.grad_accum, 8);
  EXPECT_EQ(spec->steps, 2000);
  EXPECT_EQ(spec->seed, 1234u);
  EXPECT_EQ(spec->precision, Precision::kBf16);
  EXPECT_EQ(spec->bf16_weight_casts, WeightCasts::kPerStep);
  EXPECT_TRUE(spec->gradient_checkpointing);
  EXPECT_TRUE(spec->channels_last);
  EXPECT_TRUE(spec->fused_geglu);
  EXPECT_EQ(spec->checkpoint_every, 200);
  EXPECT_EQ(spec->eval_every, 100);
  EXPECT_EQ(spec->max_bad_steps, 3);
  EXPECT_EQ(spec->device, "cuda");
  ASSERT_TRUE(spec->curriculum.has_value());
  EXPECT_EQ(spec->curriculum->stages, 5);
  EXPECT_EQ(spec->curriculum->steps_per_stage, 400);
  EXPECT_EQ(spec->curriculum->difficulty, CurriculumDifficulty::kScoreGap);
}

TEST(JobSpecTest, Defaults) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kMinimalSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const JobSpec defaults;
  EXPECT_EQ(spec->loss.type, LossType::kDpo);
  EXPECT_DOUBLE_EQ(spec->loss.beta, defaults.loss.beta);
  EXPECT_EQ(spec->optim.name, OptimizerName::kAdamW);
  EXPECT_DOUBLE_EQ(spec->optim.lr, defaults.optim.lr);
  EXPECT_DOUBLE_EQ(spec->optim.beta1, 0.9);
  EXPECT_DOUBLE_EQ(spec->optim.beta2, 0.999);
  EXPECT_EQ(spec->optim.schedule, LrSchedule::kConstantWithWarmup);
  EXPECT_EQ(spec->batch.pairs_per_rank, 1);
  EXPECT_EQ(spec->batch.grad_accum, 1);
  EXPECT_EQ(spec->seed, 0u);
  EXPECT_EQ(spec->precision, Precision::kFp32);
  EXPECT_EQ(spec->bf16_weight_casts, WeightCasts::kPerForward);
  EXPECT_FALSE(spec->gradient_checkpointing);
  EXPECT_FALSE(spec->channels_last);
  EXPECT_FALSE(spec->fused_geglu);
  EXPECT_EQ(spec->checkpoint_every, 0);
  EXPECT_EQ(spec->eval_every, 0);
  EXPECT_EQ(spec->max_bad_steps, 5);
  EXPECT_EQ(spec->device, "auto");
  EXPECT_FALSE(spec->curriculum.has_value());
}

TEST(JobSpecTest, LossVariants) {
  const auto parse_loss = [](const std::string& loss) {
    return ParseJobSpec(absl::StrReplaceAll(kMinimalSpec, {{"{type: dpo}", loss}}));
  };
  absl::StatusOr<JobSpec> mapo = parse_loss("{type: mapo, mapo_beta: 0.2}");
  ASSERT_TRUE(mapo.ok()) << mapo.status();
  EXPECT_EQ(mapo->loss.type, LossType::kMapo);
  EXPECT_DOUBLE_EQ(mapo->loss.mapo_beta, 0.2);

  absl::StatusOr<JobSpec> alpha = parse_loss("{type: fdpo, divergence: alpha, alpha: 0.3, beta: 2}");
  ASSERT_TRUE(alpha.ok()) << alpha.status();
  EXPECT_EQ(alpha->loss.divergence, Divergence::kAlpha);
  EXPECT_DOUBLE_EQ(alpha->loss.alpha, 0.3);

  absl::StatusOr<JobSpec> hellinger = parse_loss("{type: fdpo, divergence: hellinger}");
  ASSERT_TRUE(hellinger.ok()) << hellinger.status();
  EXPECT_EQ(hellinger->loss.divergence, Divergence::kHellinger);
  EXPECT_DOUBLE_EQ(hellinger->loss.alpha, 0.5);

  for (const char* name : {"reverse_kl", "forward_kl", "js", "alpha", "hellinger"}) {
    absl::StatusOr<JobSpec> spec = parse_loss(absl::StrCat("{type: fdpo, divergence: ", name, "}"));
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    EXPECT_EQ(DivergenceName(spec->loss.divergence), name);
  }
  EXPECT_TRUE(parse_loss("{type: sft}").ok());
  EXPECT_EQ(LossTypeName(LossType::kMapo), "mapo");
  EXPECT_EQ(LossTypeName(LossType::kFdpo), "fdpo");
}

TEST(JobSpecTest, SeedTakesTheWholeUint64Range) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(absl::StrCat(kMinimalSpec, "seed: 18446744073709551615\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->seed, UINT64_MAX);
}

TEST(JobSpecTest, PrepareNeedsNoStepsOrLoss) {
  absl::StatusOr<JobSpec> spec =
      ParseJobSpec("name: prep\ntype: prepare\nmodel: /m\ndataset: /d\noutput: /o\nprepare: {input: /p.jsonl}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->type, JobType::kPrepare);
}

TEST(JobSpecTest, LoadJobSpecNamesTheFile) {
  const std::string path =
      (std::filesystem::temp_directory_path() / absl::StrCat("job_spec_test_", ::getpid(), ".yaml")).string();
  std::ofstream(path) << kMinimalSpec << "steps_typo: 3\n";
  absl::StatusOr<JobSpec> spec = LoadJobSpec(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr(path));
  EXPECT_THAT(spec.status().message(), HasSubstr("steps_typo"));
  EXPECT_FALSE(LoadJobSpec("/nonexistent/job.yaml").ok());
}

struct BadCase {
  const char* what;
  std::string yaml;
  std::vector<std::string> expected;  // substrings of the message
};

// kMinimalSpec with `line` replaced or appended.
std::string With(const std::string& key, const std::string& line) {
  std::string out;
  bool replaced = false;
  for (absl::string_view l : absl::StrSplit(kMinimalSpec, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(l, key + ":")) {
      if (!line.empty()) absl::StrAppend(&out, line, "\n");
      replaced = true;
    } else {
      absl::StrAppend(&out, l, "\n");
    }
  }
  if (!replaced) absl::StrAppend(&out, line, "\n");
  return out;
}
std::string Loss(const std::string& loss) { return With("loss", "loss: " + loss); }

TEST(JobSpecTest, CudaGraphWithTheFusedAdamW) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(With("cuda_graph", "cuda_graph: true\noptim: {fused: true}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->cuda_graph);
  EXPECT_FALSE(ParseJobSpec(kMinimalSpec)->cuda_graph);
  // Train only, like the step it changes.
  absl::StatusOr<JobSpec> prepare = ParseJobSpec(
      "name: p\ntype: prepare\nmodel: /m\ndataset: /d\noutput: /o\ncuda_graph: true\noptim: {fused: true}\n"
      "prepare: {input: /in.jsonl}\n");
  ASSERT_FALSE(prepare.ok());
  EXPECT_THAT(prepare.status().message(), HasSubstr("cuda_graph"));
}

std::string Optim(const std::string& optim) { return With("optim", "optim: " + optim); }

class JobSpecErrorTest : public testing::TestWithParam<BadCase> {};

TEST_P(JobSpecErrorTest, NamesTheField) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(GetParam().yaml);
  ASSERT_FALSE(spec.ok()) << GetParam().yaml;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& s : GetParam().expected) {
    EXPECT_THAT(spec.status().message(), HasSubstr(s)) << GetParam().yaml;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, JobSpecErrorTest,
    testing::Values(
        BadCase{"empty", "", {"empty"}}, BadCase{"comment only", "# nothing\n", {"empty"}},
        BadCase{"not a mapping", "- a\n- b\n", {"mapping"}},
        BadCase{"malformed", "name: x\nloss: {type: dpo\nsteps: 3\n", {"line", "column"}},
        BadCase{"two documents", std::string(kMinimalSpec) + "---\nname: y\n", {"documents"}},
        BadCase{"unknown top-level", With("stepz", "stepz: 3"), {"unknown field", "stepz"}},
        BadCase{"unknown nested", Loss("{type: dpo, betta: 3}"), {"loss.betta"}},
        BadCase{"duplicate", std::string(kMinimalSpec) + "steps: 11\n", {"steps", "duplicate"}},
        BadCase{"missing name", With("name", ""), {"name", "missing"}},
        BadCase{"missing type", With("type", ""), {"type"}},
        BadCase{"missing model", With("model", ""), {"model"}},
        BadCase{"missing output", With("output", ""), {"output"}},
        BadCase{"missing dataset", With("dataset", ""), {"dataset"}},
        BadCase{"missing steps", With("steps", ""), {"steps"}},
        BadCase{"zero steps", With("steps", "steps: 0"), {"steps", "> 0"}},
        BadCase{"missing loss", With("loss", ""), {"loss"}},
        BadCase{"bad name", With("name", "name: a b/c"), {"name"}},
        BadCase{"bad type", With("type", "type: sample"), {"type", "train", "generate"}},
        BadCase{"steps as string", With("steps", "steps: \"10\""), {"steps", "number"}},
        BadCase{"steps as word", With("steps", "steps: ten"), {"steps", "integer"}},
        BadCase{"steps as float", With("steps", "steps: 1.5"), {"steps", "integer"}},
        BadCase{"steps as list", With("steps", "steps: [1]"), {"steps"}},
        BadCase{"steps null", With("steps", "steps:"), {"steps", "no value"}},
        BadCase{"loss type", Loss("{type: ipo}"), {"loss.type", "dpo"}},
        BadCase{"loss type missing", Loss("{beta: 3}"), {"loss.type"}},
        BadCase{"loss not a map", Loss("dpo"), {"loss", "mapping"}},
        BadCase{"fdpo without divergence", Loss("{type: fdpo}"), {"loss.divergence", "required"}},
        BadCase{"divergence unknown", Loss("{type: fdpo, divergence: renyi}"), {"loss.divergence", "js"}},
        BadCase{"chi_squared",
                Loss("{type: fdpo, divergence: chi_squared}"),
                {"loss.divergence", "not a valid link", "domain"}},
        BadCase{"chi2", Loss("{type: fdpo, divergence: chi2}"), {"loss.divergence", "chi-squared"}},
        BadCase{"total_variation",
                Loss("{type: fdpo, divergence: total_variation}"),
                {"loss.divergence", "not a valid link", "not invertible"}},
        BadCase{"tv", Loss("{type: fdpo, divergence: tv}"), {"loss.divergence", "total variation"}},
        BadCase{"divergence on dpo", Loss("{type: dpo, divergence: js}"), {"loss.divergence", "fdpo"}},
        BadCase{"alpha without alpha divergence",
                Loss("{type: fdpo, divergence: js, alpha: 0.5}"),
                {"loss.alpha"}},
        BadCase{"alpha zero", Loss("{type: fdpo, divergence: alpha, alpha: 0}"), {"loss.alpha", "(0, 1)"}},
        BadCase{"alpha one", Loss("{type: fdpo, divergence: alpha, alpha: 1}"), {"loss.alpha"}},
        BadCase{"beta zero", Loss("{type: dpo, beta: 0}"), {"loss.beta", "> 0"}},
        BadCase{"beta negative", Loss("{type: fdpo, divergence: js, beta: -1}"), {"loss.beta"}},
        BadCase{"beta string", Loss("{type: dpo, beta: '5'}"), {"loss.beta", "string"}},
        BadCase{"beta nan", Loss("{type: dpo, beta: .nan}"), {"loss.beta"}},
        BadCase{"beta on mapo", Loss("{type: mapo, beta: 5}"), {"loss.beta", "mapo"}},
        BadCase{"mapo_beta zero", Loss("{type: mapo, mapo_beta: 0}"), {"loss.mapo_beta", "> 0"}},
        BadCase{"mapo_beta on dpo", Loss("{type: dpo, mapo_beta: 0.1}"), {"loss.mapo_beta"}},
        BadCase{"optim name", Optim("{name: sgd}"), {"optim.name", "adamw"}},
        BadCase{"lr zero", Optim("{lr: 0}"), {"optim.lr", "> 0"}},
        BadCase{"lr string", Optim("{lr: fast}"), {"optim.lr", "number"}},
        BadCase{"weight_decay", Optim("{weight_decay: -0.1}"), {"optim.weight_decay", ">= 0"}},
        BadCase{"warmup_steps", Optim("{warmup_steps: -1}"), {"optim.warmup_steps"}},
        BadCase{"grad_clip", Optim("{grad_clip: -1}"), {"optim.grad_clip"}},
        BadCase{"schedule", Optim("{schedule: linear}"), {"optim.schedule", "cosine"}},
        BadCase{"beta1", Optim("{beta1: 1}"), {"optim.beta1", "[0, 1)"}},
        BadCase{"beta2", Optim("{beta2: -0.1}"), {"optim.beta2"}},
        BadCase{"eps", Optim("{eps: 0}"), {"optim.eps"}},
        BadCase{"unknown optim", Optim("{lr: 1e-5, momentum: 0.9}"), {"optim.momentum"}},
        BadCase{
            "pairs_per_rank", With("batch", "batch: {pairs_per_rank: 0}"), {"batch.pairs_per_rank", ">= 1"}},
        BadCase{"grad_accum", With("batch", "batch: {grad_accum: 0}"), {"batch.grad_accum"}},
        // Numbers that would become memory in the coordinator's plan or a worker's batch.
        BadCase{"grad_accum huge",
                With("batch", "batch: {grad_accum: 1000000000}"),
                {"batch.grad_accum", "<= 4096"}},
        BadCase{"pairs_per_rank huge",
                With("batch", "batch: {pairs_per_rank: 2000000000}"),
                {"batch.pairs_per_rank", "<= 1024"}},
        BadCase{"pairs per rank step",
                With("batch", "batch: {pairs_per_rank: 1024, grad_accum: 4096}"),
                {"batch.grad_accum", "pairs_per_rank", "<= 65536"}},
        BadCase{"steps huge", With("steps", "steps: 1000000000000000000"), {"steps", "<= 100000000"}},
        BadCase{"steps 1e18", With("steps", "steps: 1e18"), {"steps"}},
        BadCase{"curriculum stages huge",
                With("curriculum", "curriculum: {stages: 1000000, steps_per_stage: 5}"),
                {"curriculum.stages", "<= 1000"}},
        BadCase{"curriculum steps_per_stage huge",
                With("curriculum", "curriculum: {stages: 2, steps_per_stage: 1000000000000}"),
                {"curriculum.steps_per_stage", "<= 100000000"}},
        BadCase{"allow_tf32", With("allow_tf32", "allow_tf32: sometimes"), {"allow_tf32", "true or false"}},
        BadCase{"seed negative", With("seed", "seed: -1"), {"seed"}},
        BadCase{"seed too large", With("seed", "seed: 18446744073709551616"), {"seed"}},
        BadCase{"precision", With("precision", "precision: fp16"), {"precision", "bf16"}},
        BadCase{"bf16_weight_casts",
                With("bf16_weight_casts", "precision: bf16\nbf16_weight_casts: always"),
                {"bf16_weight_casts", "per_step"}},
        BadCase{"bf16_weight_casts without bf16",
                With("bf16_weight_casts", "bf16_weight_casts: per_step"),
                {"bf16_weight_casts", "applies with precision: bf16"}},
        BadCase{"gradient_checkpointing",
                With("gradient_checkpointing", "gradient_checkpointing: maybe"),
                {"gradient_checkpointing", "true or false"}},
        BadCase{"channels_last", With("channels_last", "channels_last: nhwc"), {"channels_last", "true or false"}},
        BadCase{"fused_geglu", With("fused_geglu", "fused_geglu: cuda"), {"fused_geglu", "true or false"}},
        BadCase{"cuda_graph", With("cuda_graph", "cuda_graph: yes please"), {"cuda_graph", "true or false"}},
        BadCase{"cuda_graph without the fused adamw", With("cuda_graph", "cuda_graph: true"),
                {"cuda_graph", "optim.fused: true"}},
        BadCase{"cuda_graph with shard",
                With("cuda_graph", "cuda_graph: true\noptim: {fused: true, shard: true}"),
                {"cuda_graph", "MPI"}},
        BadCase{"cuda_graph with overlap",
                With("cuda_graph", "cuda_graph: true\noptim: {fused: true, overlap: true}"),
                {"cuda_graph", "optim.overlap"}},
        BadCase{"cuda_graph with lora dropout",
                With("cuda_graph", "cuda_graph: true\noptim: {fused: true}\nlora: {dropout: 0.1}"),
                {"cuda_graph", "lora.dropout"}},
        BadCase{"checkpoint_every", With("checkpoint_every", "checkpoint_every: -1"), {"checkpoint_every"}},
        BadCase{"eval_every", With("eval_every", "eval_every: -5"), {"eval_every"}},
        BadCase{"max_bad_steps", With("max_bad_steps", "max_bad_steps: 0"), {"max_bad_steps", ">= 1"}},
        BadCase{"device", With("device", "device: tpu"), {"device", "cuda"}},
        BadCase{"curriculum stages",
                With("curriculum", "curriculum: {stages: 0, steps_per_stage: 5}"),
                {"curriculum.stages", ">= 1"}},
        BadCase{"curriculum stages missing",
                With("curriculum", "curriculum: {steps_per_stage: 5}"),
                {"curriculum.stages", "missing"}},
        BadCase{"curriculum steps_per_stage",
                With("curriculum", "curriculum: {stages: 2, steps_per_stage: 0}"),
                {"curriculum.steps_per_stage"}},
        BadCase{"curriculum difficulty",
                With("curriculum", "curriculum: {stages: 2, steps_per_stage: 3, difficulty: random}"),
                {"curriculum.difficulty", "rank_gap"}},
        BadCase{"curriculum unknown",
                With("curriculum", "curriculum: {stages: 2, steps_per_stage: 3, x: 1}"),
                {"curriculum.x"}}),
    [](const testing::TestParamInfo<BadCase>& info) {
      std::string name = info.param.what;
      for (char& c : name) {
        if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(JobSpecTest, LimitsThemselvesAreAccepted) {
  absl::StatusOr<JobSpec> spec =
      ParseJobSpec(With("steps", "steps: 100000000") + "batch: {pairs_per_rank: 16, grad_accum: 4096}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->steps, spec_limits::kMaxSteps);
  EXPECT_EQ(spec->batch.pairs_per_rank * spec->batch.grad_accum, spec_limits::kMaxPairsPerRankStep);
}

TEST(JobSpecTest, ASpecLargerThanTheLimitIsRefusedBeforeParsing) {
  const std::string padding = "# " + std::string(spec_limits::kMaxSpecBytes, 'x') + "\n";
  absl::StatusOr<JobSpec> spec = ParseJobSpec(With("steps", "steps: 10") + padding);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("at most 1048576 are accepted"));
}

TEST(JobSpecTest, ProgressTimeoutIsUnsetUnlessGivenAndBounded) {
  absl::StatusOr<JobSpec> plain = ParseJobSpec(With("steps", "steps: 10"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->progress_timeout_s.has_value());
  absl::StatusOr<JobSpec> given = ParseJobSpec(With("steps", "steps: 10") + "progress_timeout_s: 900\n");
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->progress_timeout_s, 900.0);
  for (const char* bad : {"0", "-5", ".nan", "1e9"}) {
    absl::StatusOr<JobSpec> refused =
        ParseJobSpec(With("steps", "steps: 10") + "progress_timeout_s: " + bad + "\n");
    EXPECT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("progress_timeout_s")) << bad;
  }
}

TEST(JobSpecTest, AllowTf32IsUnsetUnlessGiven) {
  absl::StatusOr<JobSpec> unset = ParseJobSpec(kMinimalSpec);
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_FALSE(unset->allow_tf32.has_value());
  for (const bool value : {false, true}) {
    absl::StatusOr<JobSpec> spec =
        ParseJobSpec(With("allow_tf32", absl::StrCat("allow_tf32: ", value ? "true" : "false")));
    ASSERT_TRUE(spec.ok()) << spec.status();
    ASSERT_TRUE(spec->allow_tf32.has_value());
    EXPECT_EQ(*spec->allow_tf32, value);
  }
}

TEST(JobSpecTest, FusedIsForAdamWOnly) {
  absl::StatusOr<JobSpec> fused = ParseJobSpec(With("optim", "optim: {name: adamw, fused: true}"));
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_TRUE(fused->optim.fused);
  EXPECT_FALSE(ParseJobSpec(kMinimalSpec)->optim.fused);
  absl::StatusOr<JobSpec> adafactor = ParseJobSpec(With("optim", "optim: {name: adafactor, fused: true}"));
  EXPECT_FALSE(adafactor.ok());
  EXPECT_THAT(std::string(adafactor.status().message()), HasSubstr("optim.fused"));
  EXPECT_THAT(std::string(adafactor.status().message()), HasSubstr("adamw only"));
}

TEST(JobSpecTest, ShardIsForAdamWOnly) {
  absl::StatusOr<JobSpec> sharded = ParseJobSpec(With("optim", "optim: {name: adamw, fused: true, shard: true}"));
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  EXPECT_TRUE(sharded->optim.shard);
  EXPECT_FALSE(ParseJobSpec(kMinimalSpec)->optim.shard);
  absl::StatusOr<JobSpec> adafactor = ParseJobSpec(With("optim", "optim: {name: adafactor, shard: true}"));
  EXPECT_FALSE(adafactor.ok());
  EXPECT_THAT(std::string(adafactor.status().message()), HasSubstr("optim.shard"));
  EXPECT_THAT(std::string(adafactor.status().message()), HasSubstr("adamw only"));
}

TEST(JobSpecTest, OverlapAndBucketSize) {
  absl::StatusOr<JobSpec> plain = ParseJobSpec(kMinimalSpec);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->optim.overlap);
  EXPECT_EQ(plain->optim.bucket_mb, 25);
  absl::StatusOr<JobSpec> overlapped =
      ParseJobSpec(With("optim", "optim: {name: adamw, shard: true, overlap: true, bucket_mb: 0.5}"));
  ASSERT_TRUE(overlapped.ok()) << overlapped.status();
  EXPECT_TRUE(overlapped->optim.overlap);
  EXPECT_EQ(overlapped->optim.bucket_mb, 0.5);
  // Replicated overlap does not depend on the optimizer.
  EXPECT_TRUE(ParseJobSpec(With("optim", "optim: {name: adafactor, overlap: true}")).ok());
  for (const char* bad : {"optim: {bucket_mb: 0}", "optim: {bucket_mb: -1}", "optim: {bucket_mb: 5000}"}) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(With("optim", bad));
    EXPECT_FALSE(spec.ok()) << bad;
    if (!spec.ok()) EXPECT_THAT(std::string(spec.status().message()), HasSubstr("optim.bucket_mb")) << bad;
  }
}

TEST(JobSpecTest, ResumeIsOwnUnlessGivenAndOnlyForTrainJobs) {
  absl::StatusOr<JobSpec> unset = ParseJobSpec(kMinimalSpec);
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_EQ(unset->resume, ResumePolicy::kOwn);
  absl::StatusOr<JobSpec> any = ParseJobSpec(With("resume", "resume: any"));
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->resume, ResumePolicy::kAny);
  absl::StatusOr<JobSpec> bad = ParseJobSpec(With("resume", "resume: newest"));
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("resume"));
  absl::StatusOr<JobSpec> generate = ParseJobSpec(
      "name: g\ntype: generate\nmodel: /m\noutput: /o\ngenerate: {prompts: /p.txt}\nresume: any\n");
  EXPECT_FALSE(generate.ok());
  EXPECT_THAT(std::string(generate.status().message()), HasSubstr("resume: does not apply to type generate"));
}

TEST(JobSpecTest, ErrorsCarryTheLine) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(With("loss", "loss: {type: dpo, beta: -2}"));
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("line 7"));
}

}  // namespace
}  // namespace align
