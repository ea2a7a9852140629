// The evaluation's figures: identical checkpoints tie (win rate 1/2, its
// interval around it), diversity falls to 0 for equal embeddings, every
// figure re-derived by hand on a small case, the bootstrap's draws and
// quantiles, and the checks on the records.

#include "common/evaluation/evaluation_metrics.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::evaluation {
namespace {

using ::testing::HasSubstr;

// Checkpoints x prompts x seeds images; score(c, p, k) and embedding(c, p, k) given.
template <typename Score, typename Embedding>
EvaluationData MakeData(int checkpoints, int64_t prompts, int64_t seeds, Score score, Embedding embedding) {
  EvaluationData data;
  for (int c = 0; c < checkpoints; ++c) data.checkpoints.push_back("c" + std::to_string(c));
  data.rewards = {"pickscore"};
  data.prompts = prompts;
  data.seeds = seeds;
  for (int c = 0; c < checkpoints; ++c) {
    for (int64_t p = 0; p < prompts; ++p) {
      for (int64_t k = 0; k < seeds; ++k) {
        data.images.push_back({c, p, k, {score(c, p, k)}, embedding(c, p, k)});
      }
    }
  }
  return data;
}

std::vector<float> Unit(int64_t i) {
  std::vector<float> e(4, 0.0f);
  e[static_cast<size_t>(i % 4)] = 1.0f;
  return e;
}

TEST(EvaluationMetricsTest, IdenticalCheckpointsTieWithTheirIntervalAroundOneHalf) {
  const EvaluationData data = MakeData(
      2, 20, 4, [](int, int64_t p, int64_t k) { return std::sin(p * 7.0 + k); },
      [](int, int64_t, int64_t k) { return Unit(k); });
  absl::StatusOr<EvaluationFigures> figures = ComputeFigures(data, {1000, 7});
  ASSERT_TRUE(figures.ok()) << figures.status();
  for (const CheckpointFigures& c : figures->checkpoints) {
    const RewardFigures& r = c.rewards[0];
    EXPECT_DOUBLE_EQ(r.win_rate, 0.5);
    ASSERT_TRUE(r.win_rate_ci_low && r.win_rate_ci_high);
    EXPECT_LE(*r.win_rate_ci_low, 0.5);
    EXPECT_GE(*r.win_rate_ci_high, 0.5);
  }
  EXPECT_TRUE(figures->checkpoints[0].is_base);
  EXPECT_DOUBLE_EQ(figures->checkpoints[0].rewards[0].mean, figures->checkpoints[1].rewards[0].mean);
}

TEST(EvaluationMetricsTest, NoisyEqualCheckpointsHaveAnIntervalHoldingOneHalf) {
  // Checkpoint 1 is checkpoint 0 plus a tiny perturbation: on prompt p it wins
  // p % 3 + 1 of the 4 seeds, half the pairs overall, and the interval over
  // resampled prompts holds 1/2 strictly inside.
  const EvaluationData data = MakeData(
      2, 42, 4, [](int c, int64_t p, int64_t k) { return c == 1 ? (k < p % 3 + 1 ? 1e-3 : -1e-3) : 0.0; },
      [](int, int64_t, int64_t k) { return Unit(k); });
  absl::StatusOr<EvaluationFigures> figures = ComputeFigures(data, {2000, 3});
  ASSERT_TRUE(figures.ok()) << figures.status();
  const RewardFigures& r = figures->checkpoints[1].rewards[0];
  EXPECT_DOUBLE_EQ(r.win_rate, 0.5);
  EXPECT_LT(*r.win_rate_ci_low, 0.5);
  EXPECT_GT(*r.win_rate_ci_high, 0.5);
  EXPECT_LT(*r.win_rate_ci_high - *r.win_rate_ci_low, 0.5);
}

TEST(EvaluationMetricsTest, DiversityIsZeroForEqualEmbeddingsAndOneForOrthogonalOnes) {
  const EvaluationData data = MakeData(
      2, 3, 4, [](int c, int64_t, int64_t) { return c * 1.0; },
      [](int c, int64_t, int64_t k) { return c == 0 ? std::vector<float>{0.6f, 0.8f, 0, 0} : Unit(k); });
  absl::StatusOr<EvaluationFigures> figures = ComputeFigures(data, {0, 0});
  ASSERT_TRUE(figures.ok()) << figures.status();
  EXPECT_NEAR(*figures->checkpoints[0].diversity, 0.0, 1e-7);
  EXPECT_NEAR(*figures->checkpoints[1].diversity, 1.0, 1e-7);
  // Checkpoint 1 scores 1 everywhere, the base 0: it wins every pair.
  EXPECT_DOUBLE_EQ(figures->checkpoints[1].rewards[0].win_rate, 1.0);
  EXPECT_FALSE(figures->checkpoints[1].rewards[0].win_rate_ci_low.has_value());  // no resamples

  // One seed: no pairs, no diversity.
  const EvaluationData single = MakeData(
      1, 3, 1, [](int, int64_t p, int64_t) { return p * 1.0; }, [](int, int64_t, int64_t) { return Unit(0); });
  figures = ComputeFigures(single, {10, 0});
  ASSERT_TRUE(figures.ok()) << figures.status();
  EXPECT_FALSE(figures->checkpoints[0].diversity.has_value());
}

TEST(EvaluationMetricsTest, FiguresMatchAHandComputation) {
  // 2 prompts x 2 seeds; base scores {1, 3 | 2, 2}, candidate {2, 3 | 1, 5}.
  const double base[2][2] = {{1, 3}, {2, 2}};
  const double cand[2][2] = {{2, 3}, {1, 5}};
  const EvaluationData data = MakeData(
      2, 2, 2, [&](int c, int64_t p, int64_t k) { return c == 0 ? base[p][k] : cand[p][k]; },
      [](int, int64_t p, int64_t k) {
        return p == 0 ? Unit(k) : (k == 0 ? std::vector<float>{1, 0, 0, 0} : std::vector<float>{1, 1, 0, 0});
      });
  absl::StatusOr<EvaluationFigures> figures = ComputeFigures(data, {500, 11});
  ASSERT_TRUE(figures.ok()) << figures.status();
  const RewardFigures& b = figures->checkpoints[0].rewards[0];
  const RewardFigures& c = figures->checkpoints[1].rewards[0];
  EXPECT_DOUBLE_EQ(b.mean, 2.0);
  EXPECT_DOUBLE_EQ(b.std, std::sqrt(0.5));
  EXPECT_DOUBLE_EQ(b.prompt_variance, (1.0 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(c.mean, 11.0 / 4);
  EXPECT_DOUBLE_EQ(c.std, std::sqrt((0.5625 + 0.0625 + 3.0625 + 5.0625) / 4));
  EXPECT_DOUBLE_EQ(c.prompt_variance, (0.25 + 4.0) / 2);
  // Pairs: (2 vs 1) win, (3 vs 3) tie, (1 vs 2) loss, (5 vs 2) win.
  EXPECT_DOUBLE_EQ(c.win_rate, 2.5 / 4);
  // Prompt 0 gives 1.5 wins, prompt 1 gives 1: resamples are 0.5, 0.625 or 0.75.
  EXPECT_GE(*c.win_rate_ci_low, 0.5);
  EXPECT_LE(*c.win_rate_ci_high, 0.75);
  // Diversity: prompt 0 orthogonal (1), prompt 1 at 45 degrees (1 - 1/sqrt 2).
  EXPECT_NEAR(*figures->checkpoints[0].diversity, (1.0 + (1.0 - 1.0 / std::sqrt(2.0))) / 2, 1e-7);

  // The interval is the quantiles of the resampled win rates, from the draws.
  const std::vector<std::vector<int64_t>> draws = BootstrapDraws(2, {500, 11});
  ASSERT_EQ(draws.size(), 500u);
  std::vector<double> resampled;
  for (const auto& row : draws) resampled.push_back(((row[0] == 0 ? 1.5 : 1.0) + (row[1] == 0 ? 1.5 : 1.0)) / 4);
  EXPECT_DOUBLE_EQ(*c.win_rate_ci_low, Quantile(resampled, 0.025));
  EXPECT_DOUBLE_EQ(*c.win_rate_ci_high, Quantile(resampled, 0.975));
  // The same seed draws the same resamples; another seed others.
  EXPECT_EQ(BootstrapDraws(2, {500, 11}), draws);
  EXPECT_NE(BootstrapDraws(2, {500, 12}), draws);
}

TEST(EvaluationMetricsTest, QuantileInterpolatesLikeNumpy) {
  EXPECT_DOUBLE_EQ(Quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Quantile({1, 2, 3, 4, 5}, 0.025), 1.1);
  EXPECT_DOUBLE_EQ(Quantile({1, 2, 3, 4, 5}, 0.975), 4.9);
  EXPECT_DOUBLE_EQ(Quantile({7}, 0.975), 7);
}

TEST(EvaluationMetricsTest, RecordsAreChecked) {
  const auto score = [](int, int64_t, int64_t) { return 1.0; };
  const auto embedding = [](int, int64_t, int64_t k) { return Unit(k); };
  EvaluationData data = MakeData(2, 2, 2, score, embedding);
  data.images.pop_back();
  EXPECT_THAT(ComputeFigures(data, {}).status().message(), HasSubstr("no image of checkpoint \"c1\", prompt 1, seed 1"));
  data = MakeData(2, 2, 2, score, embedding);
  data.images.back() = data.images.front();
  EXPECT_THAT(ComputeFigures(data, {}).status().message(), HasSubstr("recorded twice"));
  data = MakeData(2, 2, 2, score, embedding);
  data.images[1].scores[0] = NAN;
  EXPECT_THAT(ComputeFigures(data, {}).status().message(), HasSubstr("not finite"));
  data = MakeData(2, 2, 2, score, embedding);
  data.images[1].embedding = {0, 0, 0, 0};
  EXPECT_THAT(ComputeFigures(data, {}).status().message(), HasSubstr("norm 0"));
  data = MakeData(2, 2, 2, score, embedding);
  data.images[1].seed = 2;
  EXPECT_THAT(ComputeFigures(data, {}).status().message(), HasSubstr("outside the evaluation"));
}

}  // namespace
}  // namespace align::evaluation
