// The `evaluate:` section: defaults, checkpoints and rewards lists, the
// baseline, the embedder's default, every bound with the field in the error.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::HasSubstr;

constexpr char kCheckpoints[] =
    "checkpoints: [{name: base}, {name: dpo, unet: runs/train/checkpoint-4}, {name: other, model: other-sdxl}]";
constexpr char kRewards[] = "rewards: [{reward: pickscore, model: pick}, {reward: clipscore, model: clip}]";

std::string Evaluate(const std::string& fields, const std::string& model = "model: sdxl\n") {
  return absl::StrCat("name: eval\ntype: evaluate\n", model, "output: out/eval\nevaluate: {prompts: p.txt, ", fields,
                      "}\n");
}

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
  EXPECT_FALSE(spec.ok()) << yaml;
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(EvaluateSpecTest, DefaultsAndEntries) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Evaluate(absl::StrCat(kCheckpoints, ", ", kRewards)));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->type, JobType::kEvaluate);
  ASSERT_TRUE(spec->evaluate.has_value());
  const EvaluateSpec& e = *spec->evaluate;
  EXPECT_EQ(e.seeds, 4);
  EXPECT_EQ(e.bootstrap_resamples, 1000);
  EXPECT_EQ(e.prompts_per_chunk, 8);
  ASSERT_EQ(e.checkpoints.size(), 3u);
  EXPECT_EQ(e.base, "base");
  EXPECT_EQ(e.checkpoints[0].model, "sdxl");  // the job's model
  EXPECT_EQ(e.checkpoints[0].unet, "");
  EXPECT_EQ(e.checkpoints[1].model, "sdxl");
  EXPECT_EQ(e.checkpoints[1].unet, "runs/train/checkpoint-4");
  EXPECT_EQ(e.checkpoints[2].model, "other-sdxl");
  ASSERT_EQ(e.rewards.size(), 2u);
  EXPECT_EQ(e.rewards[1].reward, RewardName::kClipScore);
  EXPECT_EQ(e.embedder, "clip");  // the clipscore reward's folder

  spec = ParseJobSpec(Evaluate(absl::StrCat(kCheckpoints, ", ", kRewards,
                                            ", base: dpo, seeds: 2, embedder: emb, bootstrap: {resamples: 0}, "
                                            "sampling: {inference_steps: 4, resolution: 64, guidance_scale: 2}, "
                                            "prompts_per_chunk: 3")));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->evaluate->base, "dpo");
  EXPECT_EQ(spec->evaluate->seeds, 2);
  EXPECT_EQ(spec->evaluate->embedder, "emb");
  EXPECT_EQ(spec->evaluate->bootstrap_resamples, 0);
  EXPECT_EQ(spec->evaluate->sampling.inference_steps, 4);
  EXPECT_EQ(spec->evaluate->sampling.width, 64);
  EXPECT_EQ(spec->evaluate->prompts_per_chunk, 3);

  const JobSpec resolved = ResolveJobPaths(*spec, "/base");
  EXPECT_EQ(resolved.evaluate->prompts, "/base/p.txt");
  EXPECT_EQ(resolved.evaluate->checkpoints[1].unet, "/base/runs/train/checkpoint-4");
  EXPECT_EQ(resolved.evaluate->checkpoints[2].model, "/base/other-sdxl");
  EXPECT_EQ(resolved.evaluate->rewards[0].model, "/base/pick");
  EXPECT_EQ(resolved.evaluate->embedder, "/base/emb");
  EXPECT_EQ(resolved.evaluate->checkpoints[0].lora, "");  // none unless given
}

TEST(EvaluateSpecTest, ALoraAdapterOnTheModelsOrAnotherUNet) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Evaluate(absl::StrCat(
      "checkpoints: [{name: base}, {name: lora, lora: runs/lora/checkpoint-8}, "
      "{name: both, unet: runs/ft/checkpoint-4, lora: adapters/style.safetensors}], ",
      kRewards)));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const EvaluateSpec& e = *spec->evaluate;
  EXPECT_EQ(e.checkpoints[1].lora, "runs/lora/checkpoint-8");
  EXPECT_EQ(e.checkpoints[1].unet, "");
  EXPECT_EQ(e.checkpoints[1].model, "sdxl");
  EXPECT_EQ(e.checkpoints[2].unet, "runs/ft/checkpoint-4");
  EXPECT_EQ(e.checkpoints[2].lora, "adapters/style.safetensors");
  const JobSpec resolved = ResolveJobPaths(*spec, "/base");
  EXPECT_EQ(resolved.evaluate->checkpoints[1].lora, "/base/runs/lora/checkpoint-8");
  EXPECT_EQ(resolved.evaluate->checkpoints[2].lora, "/base/adapters/style.safetensors");
}

TEST(EvaluateSpecTest, ErrorsNameTheField) {
  const std::string both = absl::StrCat(kCheckpoints, ", ", kRewards);
  EXPECT_THAT(ErrorOf(Evaluate(kRewards)), HasSubstr("evaluate.checkpoints: required"));
  EXPECT_THAT(ErrorOf(Evaluate(kCheckpoints)), HasSubstr("evaluate.rewards: required"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat("checkpoints: [], ", kRewards))),
              HasSubstr("evaluate.checkpoints: must list 1 to 64"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat("checkpoints: [{name: a}, {name: a}], ", kRewards))),
              HasSubstr("evaluate.checkpoints[1].name: \"a\" is listed twice"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat("checkpoints: [{name: a/b}], ", kRewards))),
              HasSubstr("evaluate.checkpoints[0].name: must be"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat("checkpoints: [{name: a, vae: x}], ", kRewards))),
              HasSubstr("evaluate.checkpoints[0].vae"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat("checkpoints: [{name: a, lora: \"\"}], ", kRewards))),
              HasSubstr("evaluate.checkpoints[0].lora: must not be empty"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(both, ", base: nope"))),
              HasSubstr("evaluate.base: \"nope\" is not the name"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(kCheckpoints, ", rewards: [{reward: pickscore, model: a}, "
                                                          "{reward: pickscore, model: b}]"))),
              HasSubstr("evaluate.rewards[1].reward: is listed twice"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(kCheckpoints, ", rewards: [{reward: nope, model: a}]"))),
              HasSubstr("evaluate.rewards[0].reward: \"nope\" is not one of"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(kCheckpoints, ", rewards: [{reward: pickscore}]"))),
              HasSubstr("evaluate.rewards[0].model: required"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(kCheckpoints, ", rewards: [{reward: pickscore, model: p}]"))),
              HasSubstr("evaluate.embedder: required without a clipscore reward"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(both, ", seeds: 0"))), HasSubstr("evaluate.seeds: must be from 1 to 1024"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(both, ", bootstrap: {resamples: 100001}"))),
              HasSubstr("evaluate.bootstrap.resamples: must be from 0 to 100000"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(both, ", sampling: {inference_steps: 0}"))),
              HasSubstr("evaluate.sampling.inference_steps: must be from 1 to 1000"));
  EXPECT_THAT(ErrorOf(Evaluate(absl::StrCat(both, ", seeds: 64, prompts_per_chunk: 65"))),
              HasSubstr("evaluate.prompts_per_chunk: times seeds must be <= 4096"));
  // Without the job's model every checkpoint needs its own.
  EXPECT_THAT(ErrorOf(Evaluate(both, "")), HasSubstr("checkpoint \"base\" names no model"));
  EXPECT_THAT(ErrorOf("name: g\ntype: generate\nmodel: m\noutput: o\ngenerate: {prompts: p}\nevaluate: {}\n"),
              HasSubstr("evaluate: only applies to type evaluate"));
}

}  // namespace
}  // namespace align
