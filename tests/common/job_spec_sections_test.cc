// The pipeline job types' sections (generate, score, pairs): defaults, every
// bound, and which top-level paths each type takes.

#include "common/job_spec_sections.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Generate(const std::string& section) {
  return absl::StrCat("name: gen\ntype: generate\nmodel: sdxl\noutput: out/gen\ngenerate: ", section, "\n");
}
std::string Score(const std::string& section) {
  return absl::StrCat("name: score\ntype: score\noutput: out/score\nscore: ", section, "\n");
}
std::string Pairs(const std::string& section) {
  return absl::StrCat("name: pairs\ntype: pairs\ndataset: out/pairs\noutput: out/pairs-job\npairs: ", section, "\n");
}

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
  EXPECT_FALSE(spec.ok()) << yaml;
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(GenerateSpecTest, DefaultsAndSampling) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Generate("{prompts: prompts.txt}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->type, JobType::kGenerate);
  ASSERT_TRUE(spec->generate.has_value());
  EXPECT_FALSE(spec->prepare || spec->score || spec->pairs);
  EXPECT_EQ(spec->generate->prompts, "prompts.txt");
  EXPECT_EQ(spec->generate->samples_per_prompt, 4);
  EXPECT_EQ(spec->generate->sampling.inference_steps, 30);
  EXPECT_DOUBLE_EQ(spec->generate->sampling.guidance_scale, 5.0);
  EXPECT_EQ(spec->generate->sampling.height, 1024);
  EXPECT_EQ(spec->generate->image_format, ImageFileFormat::kPng);

  spec = ParseJobSpec(Generate(
      "{prompts: p.jsonl, samples_per_prompt: 8, negative_prompt: blurry, inference_steps: 4, guidance_scale: 1.5, "
      "resolution: 512, batch_size: 2, prompts_per_chunk: 3, image_format: jpeg, jpeg_quality: 80}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const GenerateSpec& g = *spec->generate;
  EXPECT_EQ(g.samples_per_prompt, 8);
  EXPECT_EQ(g.sampling.negative_prompt, "blurry");
  EXPECT_EQ(g.sampling.inference_steps, 4);
  EXPECT_EQ(g.sampling.height, 512);
  EXPECT_EQ(g.sampling.width, 512);
  EXPECT_EQ(g.sampling.batch_size, 2);
  EXPECT_EQ(g.prompts_per_chunk, 3);
  EXPECT_EQ(g.image_format, ImageFileFormat::kJpeg);
  EXPECT_EQ(g.jpeg_quality, 80);
}

TEST(GenerateSpecTest, ErrorsNameTheField) {
  EXPECT_THAT(ErrorOf(Generate("{samples_per_prompt: 2}")), HasSubstr("generate.prompts: required"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, samples_per_prompt: 0}")),
              HasSubstr("generate.samples_per_prompt: must be from 1 to"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, inference_steps: 100000}")),
              HasSubstr("generate.inference_steps: must be from 1 to 1000"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, resolution: 512, height: 512}")),
              HasSubstr("generate.resolution: give resolution (square) or height and width, not both"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, width: 100000}")), HasSubstr("generate.width: must be from 8 to"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, jpeg_quality: 90}")),
              HasSubstr("generate.jpeg_quality: only applies to image_format: jpeg"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, samples_per_prompt: 1024, prompts_per_chunk: 1024}")),
              HasSubstr("generate.prompts_per_chunk: times samples_per_prompt must be <="));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt, sampler: euler}")), HasSubstr("unknown field generate.sampler"));
  EXPECT_THAT(ErrorOf("name: gen\ntype: generate\nmodel: m\noutput: o\n"),
              HasSubstr("generate: required for type generate"));
  // A generate job writes no prepared dataset: a `dataset:` is a mistake, named.
  EXPECT_THAT(ErrorOf("name: gen\ntype: generate\nmodel: m\ndataset: d\noutput: o\ngenerate: {prompts: p.txt}\n"),
              HasSubstr("dataset: does not apply to type generate"));
  EXPECT_THAT(ErrorOf("name: gen\ntype: generate\noutput: o\ngenerate: {prompts: p.txt}\n"),
              HasSubstr("model: required for type generate"));
}

TEST(ScoreSpecTest, RewardNamesAndPaths) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Score("{images: out/gen, reward: hpsv2, reward_model: hps}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->score->reward, RewardName::kHpsV2);
  EXPECT_EQ(spec->score->images_per_chunk, 64);
  const JobSpec resolved = ResolveJobPaths(*spec, "/home/u");
  EXPECT_EQ(resolved.score->images, "/home/u/out/gen");
  EXPECT_EQ(resolved.score->reward_model, "/home/u/hps");

  EXPECT_THAT(ErrorOf(Score("{images: g, reward: imagereward, reward_model: r}")),
              AllOf(HasSubstr("score.reward"), HasSubstr("pickscore, clipscore, aesthetic, hpsv2")));
  EXPECT_THAT(ErrorOf(Score("{images: g, reward_model: r}")), HasSubstr("score.reward: required (one of pickscore"));
  EXPECT_THAT(ErrorOf(Score("{images: g, reward: pickscore}")), HasSubstr("score.reward_model: required"));
  EXPECT_THAT(ErrorOf(Score("{images: g, reward: pickscore, reward_model: r, batch_size: 0}")),
              HasSubstr("score.batch_size: must be from 1 to"));
  EXPECT_THAT(ErrorOf("name: s\ntype: score\nmodel: m\noutput: o\nscore: {images: g, reward: aesthetic, "
                      "reward_model: r}\n"),
              HasSubstr("model: does not apply to type score"));
}

TEST(PairsSpecTest, DefaultsAndBounds) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Pairs("{generated: out/gen, scores: out/score}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const PairsSpec& p = *spec->pairs;
  EXPECT_EQ(p.difficulty, CurriculumDifficulty::kRankGap);
  EXPECT_EQ(p.stages, 1);
  EXPECT_EQ(p.binning, StageBinning::kEqualCount);
  EXPECT_EQ(p.max_pairs_per_prompt, 0);
  EXPECT_EQ(ResolveJobPaths(*spec, "/w").pairs->generated, "/w/out/gen");

  spec = ParseJobSpec(Pairs("{generated: g, scores: s, difficulty: score_gap, tie_threshold: 0.1, "
                            "max_pairs_per_prompt: 3, stages: 4, binning: equal_width, heldout_fraction: 0.1, "
                            "dtype: bf16}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->pairs->difficulty, CurriculumDifficulty::kScoreGap);
  EXPECT_EQ(spec->pairs->binning, StageBinning::kEqualWidth);
  EXPECT_EQ(spec->pairs->stages, 4);
  EXPECT_EQ(spec->pairs->dtype, ShardDtype::kBf16);

  EXPECT_THAT(ErrorOf(Pairs("{generated: g}")), HasSubstr("pairs.scores: required"));
  EXPECT_THAT(ErrorOf(Pairs("{generated: g, scores: s, tie_threshold: -1}")),
              HasSubstr("pairs.tie_threshold: must be >= 0"));
  EXPECT_THAT(ErrorOf(Pairs("{generated: g, scores: s, stages: 0}")), HasSubstr("pairs.stages: must be from 1"));
  EXPECT_THAT(ErrorOf(Pairs("{generated: g, scores: s, binning: quantile}")),
              HasSubstr("equal_count, equal_width"));
  EXPECT_THAT(ErrorOf("name: p\ntype: pairs\noutput: o\npairs: {generated: g, scores: s}\n"),
              HasSubstr("dataset: required for type pairs"));
}

TEST(SectionsTest, CurriculumPoolsByLevel) {
  absl::StatusOr<JobSpec> spec =
      ParseJobSpec("name: t\ntype: train\nmodel: m\ndataset: d\noutput: o\nsteps: 9\nloss: {type: sft}\n"
                   "curriculum: {stages: 3, steps_per_stage: 3, pools: levels}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->curriculum->pools, CurriculumPools::kLevels);
  EXPECT_THAT(ErrorOf("name: t\ntype: train\nmodel: m\ndataset: d\noutput: o\nsteps: 9\nloss: {type: sft}\n"
                      "curriculum: {stages: 3, steps_per_stage: 3, pools: bins}\n"),
              HasSubstr("curriculum.pools: \"bins\" is not one of equal_count, levels"));
}

TEST(SectionsTest, ASectionOnlyAppliesToItsType) {
  EXPECT_THAT(ErrorOf("name: t\ntype: train\nmodel: m\ndataset: d\noutput: o\nsteps: 1\nloss: {type: sft}\n"
                      "generate: {prompts: p.txt}\n"),
              HasSubstr("generate: only applies to type generate"));
  EXPECT_THAT(ErrorOf(Generate("{prompts: p.txt}") + "pairs: {generated: g, scores: s}\n"),
              HasSubstr("pairs: only applies to type pairs"));
}

}  // namespace
}  // namespace align
