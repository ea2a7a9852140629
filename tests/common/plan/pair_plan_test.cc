#include "common/plan/pair_plan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <vector>

namespace align::plan {
namespace {

TEST(PairPlanTest, EveryPairOncePerEpochAcrossRanksAndMicroBatches) {
  PairPlan plan({/*num_pairs=*/24, /*pairs_per_rank=*/2, /*grad_accum=*/3, /*world_size=*/2, /*seed=*/9});
  ASSERT_EQ(plan.pairs_per_step(), 12);
  std::multiset<int64_t> seen;
  for (int64_t step = 0; step < 2; ++step) {  // two steps = one epoch of 24
    for (int rank = 0; rank < 2; ++rank) {
      for (int64_t micro = 0; micro < 3; ++micro) {
        MicroBatchPlan mb = plan.PairsFor(step, rank, micro);
        ASSERT_EQ(mb.pairs.size(), 2u);
        seen.insert(mb.pairs.begin(), mb.pairs.end());
      }
    }
  }
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 24u);
}

TEST(PairPlanTest, DeterministicAndSeedDependent) {
  PairPlan a({100, 4, 1, 1, 1}), b({100, 4, 1, 1, 1}), c({100, 4, 1, 1, 2});
  EXPECT_EQ(a.EpochOrder(3), b.EpochOrder(3));
  EXPECT_NE(a.EpochOrder(3), c.EpochOrder(3));
  EXPECT_NE(a.EpochOrder(0), a.EpochOrder(1));
}

// Two ranks with B pairs each see exactly what one rank with 2B pairs sees,
// at the same stream positions (which key the noise).
TEST(PairPlanTest, TwoRanksSplitTheOneRankBatch) {
  PairPlan two({50, 2, 2, 2, 5}), one({50, 4, 2, 1, 5});
  for (int64_t step = 0; step < 20; ++step) {
    for (int64_t micro = 0; micro < 2; ++micro) {
      MicroBatchPlan r0 = two.PairsFor(step, 0, micro), r1 = two.PairsFor(step, 1, micro);
      MicroBatchPlan both = one.PairsFor(step, 0, micro);
      std::vector<int64_t> pairs = r0.pairs, positions = r0.positions;
      pairs.insert(pairs.end(), r1.pairs.begin(), r1.pairs.end());
      positions.insert(positions.end(), r1.positions.begin(), r1.positions.end());
      EXPECT_EQ(pairs, both.pairs);
      EXPECT_EQ(positions, both.positions);
    }
  }
}

TEST(PairPlanTest, RejectsEmptyDatasets) {
  EXPECT_THROW(PairPlan({0, 1, 1, 1, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace align::plan
