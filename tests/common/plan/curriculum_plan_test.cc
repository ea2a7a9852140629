// The curriculum planner (common/plan/curriculum_plan.h): easy-to-hard
// cumulative pools, every pool pair exactly once per epoch of a stage,
// determinism, ranks and micro-batches partitioning a step, and the factory
// that reads difficulties from a prepared dataset.

#include "common/plan/curriculum_plan.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/dataset/synthetic.h"
#include "common/job_spec.h"

namespace align::plan {
namespace {

std::vector<float> Difficulty(int64_t n) {
  std::vector<float> d(n);
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>((i * 37) % n) / static_cast<float>(n);  // a permutation
  return d;
}

// Every (step, rank, micro) of steps [first, end) in stream order.
std::vector<int64_t> Stream(const CurriculumPlan& plan, int64_t first, int64_t end) {
  const PairPlanConfig& c = plan.config();
  std::vector<int64_t> pairs;
  for (int64_t step = first; step < end; ++step) {
    for (int64_t micro = 0; micro < c.grad_accum; ++micro) {
      for (int rank = 0; rank < c.world_size; ++rank) {
        MicroBatchPlan mb = plan.PairsFor(step, rank, micro);
        pairs.insert(pairs.end(), mb.pairs.begin(), mb.pairs.end());
      }
    }
  }
  return pairs;
}

TEST(CurriculumPlanTest, PoolsAreCumulativeAndEasiestFirst) {
  const int64_t n = 103;
  const std::vector<float> d = Difficulty(n);
  CurriculumPlan plan({{n, 2, 1, 2, 7}, /*stages=*/4, /*steps_per_stage=*/5}, d);
  EXPECT_EQ(plan.PoolSize(0), 26);
  EXPECT_EQ(plan.PoolSize(1), 52);
  EXPECT_EQ(plan.PoolSize(2), 78);
  EXPECT_EQ(plan.PoolSize(3), n);
  for (size_t i = 1; i < plan.easy_to_hard().size(); ++i) {
    EXPECT_LE(d[plan.easy_to_hard()[i - 1]], d[plan.easy_to_hard()[i]]);
  }
  for (int64_t stage = 0; stage < 4; ++stage) {
    const std::vector<int64_t> epoch = plan.EpochOrder(stage, 0);
    const std::set<int64_t> pool(epoch.begin(), epoch.end());
    const std::set<int64_t> easiest(plan.easy_to_hard().begin(), plan.easy_to_hard().begin() + plan.PoolSize(stage));
    EXPECT_EQ(pool, easiest) << "stage " << stage;
  }
}

TEST(CurriculumPlanTest, PoolsByLevelFollowTheDatasetsStages) {
  // Stage labels of unequal sizes (equal-width bins): 2 pairs at level 0, 5 at 1, 3 at 2.
  const std::vector<float> d = {1, 2, 0, 1, 1, 2, 1, 0, 2, 1};
  CurriculumConfig config{{10, 1, 1, 1, 3}, /*stages=*/4, /*steps_per_stage=*/2};
  config.pools_by_level = true;
  CurriculumPlan plan(config, d);
  EXPECT_EQ(plan.PoolSize(0), 2);
  EXPECT_EQ(plan.PoolSize(1), 7);
  EXPECT_EQ(plan.PoolSize(2), 10);
  EXPECT_EQ(plan.PoolSize(3), 10);  // past the last level: every pair
  const std::vector<int64_t> first = plan.EpochOrder(0, 0);
  EXPECT_EQ(std::set<int64_t>(first.begin(), first.end()), (std::set<int64_t>{2, 7}));
  EXPECT_EQ(DifficultyLevels(d), 3);
  config.stages = 2;
  EXPECT_THROW(CurriculumPlan(config, d), std::invalid_argument);
}

TEST(CurriculumPlanTest, EveryPoolPairExactlyOncePerEpochOfAStage) {
  const int64_t n = 60;
  // pairs_per_step = 2 x 3 x 2 = 12; pools 20, 40, 60: epochs end mid-step.
  CurriculumPlan plan({{n, 2, 3, 2, 11}, /*stages=*/3, /*steps_per_stage=*/10}, Difficulty(n));
  for (int64_t stage = 0; stage < 3; ++stage) {
    const int64_t pool = plan.PoolSize(stage);
    const std::vector<int64_t> stream = Stream(plan, plan.StageStart(stage), plan.StageStart(stage) + 10);
    ASSERT_EQ(stream.size(), 120u);
    const std::set<int64_t> allowed(plan.easy_to_hard().begin(), plan.easy_to_hard().begin() + pool);
    for (size_t epoch = 0; (epoch + 1) * pool <= stream.size(); ++epoch) {
      std::multiset<int64_t> seen(stream.begin() + epoch * pool, stream.begin() + (epoch + 1) * pool);
      EXPECT_EQ(seen.size(), static_cast<size_t>(pool));
      EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()), allowed) << "stage " << stage << " epoch " << epoch;
    }
    for (int64_t p : stream) EXPECT_TRUE(allowed.count(p)) << "pair " << p << " outside stage " << stage << "'s pool";
  }
  // Past the last stage: still the full pool, epoch after epoch.
  const std::vector<int64_t> late = Stream(plan, 30, 40);
  for (size_t epoch = 0; (epoch + 1) * n <= late.size(); ++epoch) {
    EXPECT_EQ(std::set<int64_t>(late.begin() + epoch * n, late.begin() + (epoch + 1) * n).size(), static_cast<size_t>(n));
  }
}

TEST(CurriculumPlanTest, StagesPositionsAndDeterminism) {
  const int64_t n = 50;
  CurriculumConfig config{{n, 2, 2, 2, 3}, 5, 4};
  CurriculumPlan a(config, Difficulty(n)), b(config, Difficulty(n));
  config.base.seed = 4;
  CurriculumPlan c(config, Difficulty(n));
  EXPECT_EQ(a.StageOf(0), 0);
  EXPECT_EQ(a.StageOf(3), 0);
  EXPECT_EQ(a.StageOf(4), 1);
  EXPECT_EQ(a.StageOf(19), 4);
  EXPECT_EQ(a.StageOf(1000), 4);
  EXPECT_EQ(a.StageStart(2), 8);
  bool differs = false;
  for (int64_t step = 0; step < 30; ++step) {
    std::set<int64_t> positions;
    for (int rank = 0; rank < 2; ++rank) {
      for (int64_t micro = 0; micro < 2; ++micro) {
        MicroBatchPlan x = a.PairsFor(step, rank, micro), y = b.PairsFor(step, rank, micro);
        EXPECT_EQ(x.pairs, y.pairs);
        EXPECT_EQ(x.positions, y.positions);
        differs |= x.pairs != c.PairsFor(step, rank, micro).pairs;
        positions.insert(x.positions.begin(), x.positions.end());
      }
    }
    // Positions are the global stream's: 8 per step, contiguous.
    EXPECT_EQ(positions.size(), 8u);
    EXPECT_EQ(*positions.begin(), step * 8);
    EXPECT_EQ(*positions.rbegin(), step * 8 + 7);
  }
  EXPECT_TRUE(differs);
  // Different stages shuffle differently even over the same pool size.
  EXPECT_NE(a.EpochOrder(4, 0), a.EpochOrder(4, 1));
}

TEST(CurriculumPlanTest, RejectsBadConfigs) {
  EXPECT_THROW(CurriculumPlan({{10, 1, 1, 1, 0}, 0, 1}, Difficulty(10)), std::invalid_argument);
  EXPECT_THROW(CurriculumPlan({{10, 1, 1, 1, 0}, 2, 0}, Difficulty(10)), std::invalid_argument);
  EXPECT_THROW(CurriculumPlan({{10, 1, 1, 1, 0}, 2, 3}, Difficulty(9)), std::invalid_argument);
}

TEST(CurriculumPlanTest, FactoryReadsDifficultyFromTheDataset) {
  std::string pattern = (std::filesystem::temp_directory_path() / "curriculum_plan_test_XXXXXX").string();
  const std::string dir = ::mkdtemp(pattern.data());
  data::SyntheticOptions options;
  options.train_pairs = 40;
  options.heldout_pairs = 4;
  options.shape = {4, 4, 4, 2, 8, 0};
  options.seed = 3;
  ASSERT_TRUE(data::WriteSyntheticDataset(dir + "/data", options).ok());

  JobSpec spec;
  spec.batch = {2, 1};
  spec.seed = 5;
  auto uniform = MakeStepPlanner(spec, dir + "/data", 2);
  ASSERT_TRUE(uniform.ok()) << uniform.status();
  EXPECT_EQ((*uniform)->num_stages(), 1);
  EXPECT_EQ((*uniform)->PairsFor(3, 1, 0).pairs, PairPlan({40, 2, 1, 2, 5}).PairsFor(3, 1, 0).pairs);

  spec.curriculum = CurriculumSpec{4, 3, CurriculumDifficulty::kRankGap};
  auto rank_gap = MakeStepPlanner(spec, dir + "/data", 2);
  ASSERT_TRUE(rank_gap.ok()) << rank_gap.status();
  EXPECT_EQ((*rank_gap)->num_stages(), 4);
  EXPECT_EQ((*rank_gap)->StageOf(7), 2);
  auto difficulty = LoadDifficulty(dir + "/data", CurriculumDifficulty::kRankGap);
  ASSERT_TRUE(difficulty.ok());
  const float hardest_allowed = [&] {
    std::vector<float> sorted = *difficulty;
    std::sort(sorted.begin(), sorted.end());
    return sorted[9];  // stage 0: the easiest 10 of 40
  }();
  for (int rank = 0; rank < 2; ++rank) {
    for (int64_t p : (*rank_gap)->PairsFor(0, rank, 0).pairs) EXPECT_LE((*difficulty)[p], hardest_allowed);
  }

  spec.curriculum->difficulty = CurriculumDifficulty::kScoreGap;
  auto score_gap = LoadDifficulty(dir + "/data", CurriculumDifficulty::kScoreGap);
  ASSERT_TRUE(score_gap.ok()) << score_gap.status();
  EXPECT_EQ(score_gap->size(), 40u);
  EXPECT_TRUE(MakeStepPlanner(spec, dir + "/data", 2).ok());

  EXPECT_FALSE(MakeStepPlanner(spec, dir + "/missing", 2).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace align::plan
