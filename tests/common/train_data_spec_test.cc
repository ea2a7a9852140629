// The train job's `data:` section and MaPO's snr_value, as job specs give them.

#include "common/train_data_spec.h"

#include <string>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::HasSubstr;

std::string Train(const std::string& extra, const std::string& loss = "{type: dpo, beta: 5}") {
  return "name: t\ntype: train\nmodel: /m\ndataset: /d\noutput: /o\nsteps: 10\nloss: " + loss + "\n" + extra;
}

TEST(TrainDataSpecTest, PromptDropoutDefaultsToZeroAndParses) {
  auto plain = ParseJobSpec(Train(""));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->data.prompt_dropout, 0.0);
  auto dropout = ParseJobSpec(Train("data: {prompt_dropout: 0.2}\n"));
  ASSERT_TRUE(dropout.ok()) << dropout.status();
  EXPECT_EQ(dropout->data.prompt_dropout, 0.2);
}

TEST(TrainDataSpecTest, PromptDropoutOutsideZeroOneOrOnAnotherJobTypeIsRefused) {
  for (const char* bad : {"-0.1", "1.5", ".nan"}) {
    auto spec = ParseJobSpec(Train(std::string("data: {prompt_dropout: ") + bad + "}\n"));
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_THAT(spec.status().message(), HasSubstr("data.prompt_dropout")) << bad;
  }
  auto unknown = ParseJobSpec(Train("data: {prompt_drop: 0.2}\n"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("prompt_drop"));
  auto prepare = ParseJobSpec(
      "name: p\ntype: prepare\nmodel: /m\ndataset: /d\noutput: /o\nprepare: {input: a.jsonl}\n"
      "data: {prompt_dropout: 0.2}\n");
  ASSERT_FALSE(prepare.ok());
  EXPECT_THAT(prepare.status().message(), HasSubstr("data"));
}

TEST(TrainDataSpecTest, MapoSnrValueDefaultsToTheOfficialHalfAndParses) {
  auto plain = ParseJobSpec(Train("", "{type: mapo}"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->loss.snr_value, 0.5);
  auto set = ParseJobSpec(Train("", "{type: mapo, mapo_beta: 0.1, snr_value: 1.5}"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->loss.snr_value, 1.5);
  auto zero = ParseJobSpec(Train("", "{type: mapo, snr_value: 0}"));
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.status().message(), HasSubstr("loss.snr_value"));
  auto dpo = ParseJobSpec(Train("", "{type: dpo, beta: 5, snr_value: 0.5}"));
  ASSERT_FALSE(dpo.ok());
  EXPECT_THAT(dpo.status().message(), HasSubstr("loss.snr_value"));
}

TEST(TrainDataSpecTest, MicroConditioningDefaultsToPerImageAndParsesConstant) {
  const std::string prepare = "name: p\ntype: prepare\nmodel: /m\ndataset: /d\noutput: /o\nprepare: {input: a.jsonl";
  auto plain = ParseJobSpec(prepare + "}\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->prepare->micro_conditioning, MicroConditioning::kPerImage);
  auto constant = ParseJobSpec(prepare + ", micro_conditioning: constant}\n");
  ASSERT_TRUE(constant.ok()) << constant.status();
  EXPECT_EQ(constant->prepare->micro_conditioning, MicroConditioning::kConstant);
  auto bad = ParseJobSpec(prepare + ", micro_conditioning: fixed}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("prepare.micro_conditioning"));
}

TEST(TrainDataSpecTest, PerStepFlipsAndLatentSamplesParse) {
  const std::string prepare = "name: p\ntype: prepare\nmodel: /m\ndataset: /d\noutput: /o\nprepare: {input: a.jsonl";
  auto per_step = ParseJobSpec(prepare + ", random_flip: per_step, latent: sample_per_step}\n");
  ASSERT_TRUE(per_step.ok()) << per_step.status();
  EXPECT_TRUE(per_step->prepare->flip_per_step);
  EXPECT_FALSE(per_step->prepare->random_flip);
  EXPECT_EQ(per_step->prepare->latent, LatentMode::kSamplePerStep);
  auto frozen = ParseJobSpec(prepare + ", random_flip: true}\n");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_TRUE(frozen->prepare->random_flip);
  EXPECT_FALSE(frozen->prepare->flip_per_step);
  auto bad = ParseJobSpec(prepare + ", random_flip: sometimes}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("prepare.random_flip"));
}

}  // namespace
}  // namespace align
