// Pairs from ranked candidates: which pairs, which one is preferred, their
// difficulty and stage, and the errors that name a bad input.

#include "common/curriculum/pair_builder.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::curriculum {
namespace {

using ::testing::HasSubstr;

// Prompt 0: sample ids 0..3 with scores 0.1, 0.9, 0.5, 0.3: ranked 1, 2, 3, 0.
std::vector<PromptCandidates> OnePrompt() {
  return {{0, {{0, 0.1}, {1, 0.9}, {2, 0.5}, {3, 0.3}}}};
}

TEST(PairBuilderTest, EveryPairPrefersTheHigherScoreAndCarriesItsRankGap) {
  absl::StatusOr<std::vector<PlannedPair>> pairs = BuildPairs(OnePrompt(), {});
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  ASSERT_EQ(pairs->size(), 6u);
  // Rank order: (1,2) (1,3) (1,0) (2,3) (2,0) (3,0).
  const std::vector<std::pair<int64_t, int64_t>> expected = {{1, 2}, {1, 3}, {1, 0}, {2, 3}, {2, 0}, {3, 0}};
  const std::vector<int64_t> rank_gaps = {1, 2, 3, 1, 2, 1};
  for (size_t k = 0; k < pairs->size(); ++k) {
    const PlannedPair& p = (*pairs)[k];
    EXPECT_EQ(p.pair_id, static_cast<int64_t>(k));
    EXPECT_EQ(p.preferred, expected[k].first) << k;
    EXPECT_EQ(p.rejected, expected[k].second) << k;
    EXPECT_GT(p.score_w, p.score_l);
    EXPECT_EQ(p.rank_gap, rank_gaps[k]);
    EXPECT_DOUBLE_EQ(p.score_gap, p.score_w - p.score_l);
    // Far apart in rank is easy: difficulty falls as the gap grows.
    EXPECT_FLOAT_EQ(p.difficulty, -static_cast<float>(rank_gaps[k]));
    EXPECT_EQ(p.stage, 0);
  }
}

TEST(PairBuilderTest, ScoreGapDifficultyAndNearTies) {
  PairingOptions options;
  options.difficulty = CurriculumDifficulty::kScoreGap;
  options.tie_threshold = 0.25;
  absl::StatusOr<std::vector<PlannedPair>> pairs = BuildPairs(OnePrompt(), options);
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  // Gaps: (1,2) .4 (1,3) .6 (1,0) .8 (2,3) .2 (2,0) .4 (3,0) .2: the two 0.2 gaps are near-ties.
  ASSERT_EQ(pairs->size(), 4u);
  for (const PlannedPair& p : *pairs) {
    EXPECT_GT(p.score_gap, 0.25);
    EXPECT_FLOAT_EQ(p.difficulty, -static_cast<float>(p.score_gap));
  }
  // Equal scores never make a pair, even at threshold 0.
  absl::StatusOr<std::vector<PlannedPair>> tied = BuildPairs({{7, {{10, 0.5}, {11, 0.5}, {12, 0.1}}}}, {});
  ASSERT_TRUE(tied.ok());
  EXPECT_EQ(tied->size(), 2u);
}

TEST(PairBuilderTest, CapKeepsTheEasiestPairsOfEachPrompt) {
  PairingOptions options;
  options.max_pairs_per_prompt = 2;
  std::vector<PromptCandidates> prompts = OnePrompt();
  prompts.push_back({1, {{4, 1.0}, {5, 2.0}, {6, 3.0}}});
  absl::StatusOr<std::vector<PlannedPair>> pairs = BuildPairs(prompts, options);
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  ASSERT_EQ(pairs->size(), 4u);
  // Prompt 0: the gap-3 pair and the first gap-2 pair; prompt 1: (6,4) gap 2 and (6,5) gap 1.
  EXPECT_EQ((*pairs)[0].rank_gap, 2);
  EXPECT_EQ((*pairs)[1].rank_gap, 3);
  EXPECT_EQ((*pairs)[2].prompt_index, 1);
  EXPECT_EQ((*pairs)[2].preferred, 6);
  EXPECT_EQ((*pairs)[3].pair_id, 3);
}

TEST(PairBuilderTest, EqualCountStagesGoFromLargeGapsToSmall) {
  PairingOptions options;
  options.stages = 3;
  absl::StatusOr<std::vector<PlannedPair>> pairs = BuildPairs(OnePrompt(), options);
  ASSERT_TRUE(pairs.ok());
  std::vector<int> per_stage(3, 0);
  for (const PlannedPair& p : *pairs) {
    ++per_stage[p.stage];
    EXPECT_FLOAT_EQ(p.difficulty, static_cast<float>(p.stage));
  }
  EXPECT_EQ(per_stage, (std::vector<int>{2, 2, 2}));
  // Every pair of stage s has a gap at least as large as any pair of a later stage.
  for (const PlannedPair& a : *pairs) {
    for (const PlannedPair& b : *pairs) {
      if (a.stage < b.stage) EXPECT_GE(a.rank_gap, b.rank_gap);
    }
  }
  EXPECT_EQ((*pairs)[2].stage, 0);  // the rank-gap-3 pair is the easiest
}

TEST(PairBuilderTest, EqualWidthStagesCutTheGapRange) {
  PairingOptions options;
  options.difficulty = CurriculumDifficulty::kScoreGap;
  options.stages = 2;
  options.binning = StageBinning::kEqualWidth;
  // Gaps 0.2 .. 0.8: width 0.3; gaps > 0.5 are stage 0, the rest stage 1.
  absl::StatusOr<std::vector<PlannedPair>> pairs = BuildPairs(OnePrompt(), options);
  ASSERT_TRUE(pairs.ok());
  for (const PlannedPair& p : *pairs) EXPECT_EQ(p.stage, p.score_gap > 0.5 + 1e-9 ? 0 : 1) << p.score_gap;
  // One gap for all: one stage.
  absl::StatusOr<std::vector<PlannedPair>> flat = BuildPairs({{0, {{0, 1.0}, {1, 0.0}}}}, options);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ((*flat)[0].stage, 0);
}

TEST(PairBuilderTest, BadInputIsNamed) {
  EXPECT_THAT(BuildPairs({{5, {{0, 1.0}}}}, {}).status().message(),
              HasSubstr("prompt 5 has 1 scored image(s); pairs need at least 2"));
  EXPECT_THAT(BuildPairs({{0, {{0, std::nan("")}, {1, 1.0}}}}, {}).status().message(),
              HasSubstr("sample 0 of prompt 0 has a non-finite score"));
  EXPECT_THAT(BuildPairs({{0, {{0, 1.0}, {1, 2.0}}}, {1, {{1, 1.0}, {2, 2.0}}}}, {}).status().message(),
              HasSubstr("sample 1 is scored twice"));
}

}  // namespace
}  // namespace align::curriculum
