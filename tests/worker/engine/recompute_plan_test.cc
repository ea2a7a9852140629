#include "worker/engine/recompute_plan.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kMiB = 1024 * 1024;

// Four blocks; 100 MiB of activations outside them.
ActivationFigures Figures() {
  ActivationFigures f;
  f.blocks = {{"down.0.0", 400 * kMiB, 4e9},   // 100 MiB per GFLOP
              {"down.1.0", 300 * kMiB, 1e9},   // 300
              {"mid", 200 * kMiB, 4e9},        // 50
              {"up.0.0", 500 * kMiB, 10e9}};   // 50
  f.activation_bytes = (100 + 400 + 300 + 200 + 500) * kMiB;
  return f;
}

TEST(RecomputePlanTest, TheEstimateCountsKeptActivationsAndTheLargestRecomputation) {
  const ActivationFigures f = Figures();
  EXPECT_EQ(EstimateBytes(f, 1000 * kMiB, {false, false, false, false}), 2500 * kMiB);
  // down.0.0 and mid recomputed: 1500 - 600 kept, and down.0.0's 400 again in backward.
  EXPECT_EQ(EstimateBytes(f, 1000 * kMiB, {true, false, true, false}), (1000 + 900 + 400) * kMiB);
  EXPECT_EQ(EstimateBytes(f, 0, {true, true, true, true}), (100 + 500) * kMiB);
}

TEST(RecomputePlanTest, NothingIsRecomputedWhenEverythingFits) {
  absl::StatusOr<RecomputePlan> plan = PlanRecompute(Figures(), 1000 * kMiB, 2500 * kMiB);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->recomputed, IsEmpty());
  EXPECT_EQ(plan->estimated_bytes, 2500 * kMiB);
  EXPECT_EQ(plan->activation_bytes, 1500 * kMiB);
  EXPECT_EQ(plan->recompute_flops, 0);
  EXPECT_EQ(plan->budget_bytes, 2500 * kMiB);
}

TEST(RecomputePlanTest, ATightBudgetRecomputesSomeBlocksTheCheapestPerByteFirst) {
  // 300 MiB over: down.1.0 (the most bytes per FLOP) alone frees 300 but adds 300 back as its
  // recomputation; with down.0.0 too the estimate is 2500 - 700 + 400 = 2200.
  absl::StatusOr<RecomputePlan> plan = PlanRecompute(Figures(), 1000 * kMiB, 2200 * kMiB);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->recomputed, ElementsAre("down.0.0", "down.1.0"));
  EXPECT_EQ(plan->estimated_bytes, 2200 * kMiB);
  EXPECT_EQ(plan->activation_bytes, 800 * kMiB);
  EXPECT_DOUBLE_EQ(plan->recompute_flops, 5e9);
  EXPECT_LE(plan->estimated_bytes, plan->budget_bytes);
}

TEST(RecomputePlanTest, PrefersCheapBlocksOverExpensiveOnesThatSaveAsMuch) {
  ActivationFigures f;
  f.blocks = {{"down.0.0", 100 * kMiB, 8e9}, {"down.0.1", 100 * kMiB, 1e9}, {"up.0.0", 100 * kMiB, 2e9}};
  f.activation_bytes = 400 * kMiB;
  // One block recomputed: 300 kept + 100 recomputed again = 400: the budget needs one removed from
  // the estimate, i.e. two recomputed (200 + 100 kept + 100).
  absl::StatusOr<RecomputePlan> plan = PlanRecompute(f, 0, 300 * kMiB);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->recomputed, ElementsAre("down.0.1", "up.0.0"));
  EXPECT_DOUBLE_EQ(plan->recompute_flops, 3e9);
}

TEST(RecomputePlanTest, DropsABlockALaterLargerOneMadeUnnecessary) {
  ActivationFigures f;
  // a frees little for almost nothing (added first), b frees a lot.
  f.blocks = {{"a", 10 * kMiB, 1e6}, {"b", 500 * kMiB, 1e9}, {"c", 500 * kMiB, 1e9}};
  f.activation_bytes = 1010 * kMiB;
  // Greedy adds a, b, c (a, b: 500 kept + 500 again = 1000 does not fit 600; all three: 0 + 500);
  // b and c alone (10 + 500) fit as well, so a goes.
  absl::StatusOr<RecomputePlan> plan = PlanRecompute(f, 0, 600 * kMiB);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->recomputed, ElementsAre("b", "c"));
}

TEST(RecomputePlanTest, FailsWithTheEstimateAndTheBudgetWhenEvenFullRecomputationDoesNotFit) {
  absl::StatusOr<RecomputePlan> plan = PlanRecompute(Figures(), 1000 * kMiB, 1500 * kMiB);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  // Full: 1000 fixed + 100 kept + 500 (up.0.0 recomputed in backward).
  EXPECT_THAT(plan.status().message(), HasSubstr("estimated 1.6 GiB (" + std::to_string(1600 * kMiB) + " bytes"));
  EXPECT_THAT(plan.status().message(), HasSubstr("budget of 1.5 GiB (" + std::to_string(1500 * kMiB) + " bytes)"));
  EXPECT_THAT(plan.status().message(), HasSubstr("memory_budget_gib"));
}

TEST(RecomputePlanTest, ExtrapolatesAffinelyInTheSamples) {
  ActivationFigures one, two;
  one.blocks = {{"mid", 150, 10}};
  one.activation_bytes = 1000;
  two.blocks = {{"mid", 250, 20}};
  two.activation_bytes = 1600;
  absl::StatusOr<ActivationFigures> four = ExtrapolateToSamples(one, two, 4);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(four->activation_bytes, 1000 + 3 * 600);
  ASSERT_EQ(four->blocks.size(), 1u);
  EXPECT_EQ(four->blocks[0].name, "mid");
  EXPECT_EQ(four->blocks[0].saved_bytes, 150 + 3 * 100);
  EXPECT_DOUBLE_EQ(four->blocks[0].recompute_flops, 40);

  two.blocks[0].name = "up.0.0";
  EXPECT_FALSE(ExtrapolateToSamples(one, two, 4).ok());
  EXPECT_FALSE(ExtrapolateToSamples(one, one, 0).ok());
}

TEST(RecomputePlanTest, DescribesThePlanForTheLog) {
  RecomputePlan plan;
  plan.recomputed = {"down.2.0", "mid"};
  plan.estimated_bytes = 3 * 1024 * kMiB;
  plan.activation_bytes = 1024 * kMiB;
  plan.budget_bytes = 4 * 1024 * kMiB;
  plan.recompute_flops = 2.5e12;
  const std::string text = DescribeRecomputePlan(plan, 16);
  EXPECT_THAT(text, HasSubstr("2 of 16 blocks recomputed (down.2.0, mid)"));
  EXPECT_THAT(text, HasSubstr("estimated 3.0 GiB"));
  EXPECT_THAT(text, HasSubstr("4.0 GiB budget"));
}

}  // namespace
}  // namespace align::engine
