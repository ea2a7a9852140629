#include "common/dataset/empty_prompt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace align::data {
namespace {

TEST(PromptDropoutTest, RateOverManyPairsAndStepsIsP) {
  for (double p : {0.0, 0.2, 0.25, 1.0}) {
    int64_t dropped = 0, total = 0;
    for (int64_t step = 0; step < 200; ++step) {
      for (int64_t pair = 0; pair < 500; ++pair, ++total) dropped += PromptDropped(11, step, pair, p) ? 1 : 0;
    }
    const double rate = static_cast<double>(dropped) / static_cast<double>(total);
    // 1e5 Bernoulli draws: the standard error is at most 0.0016.
    EXPECT_NEAR(rate, p, 0.006) << "p " << p;
  }
}

TEST(PromptDropoutTest, DrawsAreReproducibleAndDifferPerStep) {
  int64_t differ = 0;
  for (int64_t pair = 0; pair < 1000; ++pair) {
    EXPECT_EQ(PromptDropped(5, 3, pair, 0.3), PromptDropped(5, 3, pair, 0.3));
    differ += PromptDropped(5, 3, pair, 0.3) != PromptDropped(5, 4, pair, 0.3) ? 1 : 0;
  }
  // Independent draws at p = 0.3 disagree with probability 0.42.
  EXPECT_GT(differ, 300);
  EXPECT_LT(differ, 540);
}

TEST(EmptyPromptTest, WrittenOnceReadBackAndSwappedIntoDroppedPairs) {
  testing::TempDir dir;
  PairShape shape;
  shape.latent_channels = 1;
  shape.latent_height = shape.latent_width = 1;
  shape.tokens = 2;
  shape.context_dim = 3;
  shape.pooled_dim = 2;
  const std::vector<float> prompt = {1, 2, 3, 4, 5, 6}, pooled = {7, 8};
  EXPECT_EQ(EmptyPrompt::Load(dir.path(), shape).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteEmptyPrompt(dir.path(), shape, prompt, pooled).ok());
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir.path()) / std::string(kEmptyPromptFile)));
  auto empty = EmptyPrompt::Load(dir.path(), shape);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->prompt_embeds(), prompt);
  EXPECT_EQ(empty->pooled_prompt_embeds(), pooled);
  PairShape other = shape;
  other.context_dim = 4;
  EXPECT_FALSE(EmptyPrompt::Load(dir.path(), other).ok());

  PairBatch batch;
  batch.size = 64;
  batch.shape = shape;
  batch.prompt_embeds.assign(64 * 6, -1.0f);
  batch.pooled_prompt_embeds.assign(64 * 2, -1.0f);
  for (int64_t i = 0; i < 64; ++i) batch.pair_ids.push_back(100 + i);
  const int64_t dropped = empty->ApplyDropout(batch, 9, 2, 0.5);
  int64_t seen = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const bool expected = PromptDropped(9, 2, 100 + i, 0.5);
    EXPECT_EQ(batch.prompt_embeds[i * 6 + 5], expected ? 6.0f : -1.0f) << i;
    EXPECT_EQ(batch.pooled_prompt_embeds[i * 2 + 1], expected ? 8.0f : -1.0f) << i;
    seen += expected ? 1 : 0;
  }
  EXPECT_EQ(dropped, seen);
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, 64);
}

}  // namespace
}  // namespace align::data
