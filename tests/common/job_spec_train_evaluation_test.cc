// A train job's evaluation during training (`evaluate_every` + `evaluation:`):
// defaults, the fields it shares with evaluate jobs parsed the same way, each
// needing the other, type train only, every bound with the field in the error.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::HasSubstr;

constexpr char kRewards[] = "rewards: [{reward: pickscore, model: pick}, {reward: clipscore, model: clip}]";

std::string Train(const std::string& extra) {
  return absl::StrCat("name: t\ntype: train\nmodel: sdxl\ndataset: data\noutput: out/t\nloss: {type: dpo}\nsteps: 10\n",
                      extra);
}

std::string Evaluation(const std::string& fields, const std::string& every = "evaluate_every: 5\n") {
  return Train(absl::StrCat(every, "evaluation: {prompts: p.txt, ", fields, "}\n"));
}

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
  EXPECT_FALSE(spec.ok()) << yaml;
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(TrainEvaluationSpecTest, OffByDefault) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Train(""));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->evaluate_every, 0);
  EXPECT_FALSE(spec->evaluation.has_value());
  spec = ParseJobSpec(Train("evaluate_every: 0\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->evaluation.has_value());
}

TEST(TrainEvaluationSpecTest, DefaultsAndSharedFields) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Evaluation(kRewards));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->evaluate_every, 5);
  ASSERT_TRUE(spec->evaluation.has_value());
  const TrainEvaluationSpec& e = *spec->evaluation;
  EXPECT_EQ(e.prompts, "p.txt");
  EXPECT_EQ(e.max_prompts, 16);
  EXPECT_EQ(e.seeds, 2);
  ASSERT_EQ(e.rewards.size(), 2u);
  EXPECT_EQ(e.rewards[0].reward, RewardName::kPickScore);
  EXPECT_EQ(e.rewards[0].model, "pick");
  EXPECT_EQ(e.embedder, "clip");  // the clipscore reward's folder, as in evaluate jobs
  EXPECT_EQ(e.sampling.inference_steps, SamplingSpec().inference_steps);

  spec = ParseJobSpec(Evaluation(absl::StrCat(kRewards, ", max_prompts: 3, seeds: 4, embedder: emb, ",
                                              "sampling: {inference_steps: 4, resolution: 64, guidance_scale: 2}")));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->evaluation->max_prompts, 3);
  EXPECT_EQ(spec->evaluation->seeds, 4);
  EXPECT_EQ(spec->evaluation->embedder, "emb");
  EXPECT_EQ(spec->evaluation->sampling.inference_steps, 4);
  EXPECT_EQ(spec->evaluation->sampling.height, 64);
  EXPECT_EQ(spec->evaluation->sampling.width, 64);
  EXPECT_EQ(spec->evaluation->sampling.guidance_scale, 2.0);
}

TEST(TrainEvaluationSpecTest, EachNeedsTheOther) {
  EXPECT_THAT(ErrorOf(Train("evaluate_every: 5\n")),
              HasSubstr("evaluate_every: needs an evaluation section"));
  EXPECT_THAT(ErrorOf(Evaluation(kRewards, "")), HasSubstr("evaluation: needs evaluate_every > 0"));
  EXPECT_THAT(ErrorOf(Evaluation(kRewards, "evaluate_every: 0\n")), HasSubstr("evaluation: needs evaluate_every > 0"));
  EXPECT_THAT(ErrorOf(Train("evaluate_every: -1\n")), HasSubstr("evaluate_every: must be from 0 to"));
}

TEST(TrainEvaluationSpecTest, OnlyForTrainJobs) {
  const std::string prepare = "name: p\ntype: prepare\nmodel: sdxl\ndataset: d\noutput: o\nprepare: {input: x.jsonl}\n";
  EXPECT_THAT(ErrorOf(prepare + "evaluate_every: 5\n"), HasSubstr("evaluate_every: only applies to type train"));
  EXPECT_THAT(ErrorOf(prepare + "evaluation: {prompts: p.txt}\n"), HasSubstr("evaluation: only applies to type train"));
}

TEST(TrainEvaluationSpecTest, BadFieldsAreNamed) {
  EXPECT_THAT(ErrorOf(Train("evaluate_every: 5\nevaluation: {rewards: [{reward: clipscore, model: c}]}\n")),
              HasSubstr("evaluation.prompts: required"));
  EXPECT_THAT(ErrorOf(Evaluation("")), HasSubstr("evaluation.rewards: required"));
  EXPECT_THAT(ErrorOf(Evaluation("rewards: [{reward: nope, model: m}]")), HasSubstr("reward"));
  EXPECT_THAT(ErrorOf(Evaluation("rewards: [{reward: clipscore, model: a}, {reward: clipscore, model: b}]")),
              HasSubstr("is listed twice"));
  EXPECT_THAT(ErrorOf(Evaluation("rewards: [{reward: pickscore, model: pick}]")),
              HasSubstr("evaluation.embedder: required without a clipscore reward"));
  EXPECT_THAT(ErrorOf(Evaluation(absl::StrCat(kRewards, ", max_prompts: 0"))),
              HasSubstr("evaluation.max_prompts: must be from 1 to"));
  EXPECT_THAT(ErrorOf(Evaluation(absl::StrCat(kRewards, ", seeds: 0"))), HasSubstr("evaluation.seeds: must be from 1 to"));
  EXPECT_THAT(ErrorOf(Evaluation(absl::StrCat(kRewards, ", max_prompts: 4096, seeds: 2"))),
              HasSubstr("evaluation.seeds: times max_prompts must be <="));
  EXPECT_THAT(ErrorOf(Evaluation(absl::StrCat(kRewards, ", sampling: {inference_steps: 0}"))),
              HasSubstr("evaluation.sampling.inference_steps: must be from 1 to"));
  EXPECT_THAT(ErrorOf(Evaluation(absl::StrCat(kRewards, ", checkpoints: [{name: base}]"))),
              HasSubstr("evaluation.checkpoints"));
  EXPECT_THAT(ErrorOf(Train("evaluate_every: 5\nevaluation: p.txt\n")), HasSubstr("evaluation"));
}

TEST(TrainEvaluationSpecTest, PathsResolveAgainstTheSubmittersDirectory) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Evaluation(absl::StrCat(kRewards, ", embedder: emb")));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const JobSpec resolved = ResolveJobPaths(*spec, "/home/u");
  EXPECT_EQ(resolved.evaluation->prompts, "/home/u/p.txt");
  EXPECT_EQ(resolved.evaluation->embedder, "/home/u/emb");
  EXPECT_EQ(resolved.evaluation->rewards[0].model, "/home/u/pick");
  EXPECT_EQ(resolved.evaluation->rewards[1].model, "/home/u/clip");
}

}  // namespace
}  // namespace align
