#pragma once
// An evaluation's figures from its per-image records (docs/evaluation.md has
// every formula). Plain C++: the coordinator computes them when the job
// completes, tests and tools recompute them from the stored records.
//
// Per checkpoint c and reward r, over its N = prompts x seeds images:
//   mean_{c,r}            = (1/N) sum s_{c,r}(p, k)
//   std_{c,r}             = sqrt((1/N) sum (s - mean)^2)                     (population)
//   prompt_variance_{c,r} = (1/P) sum_p (1/K) sum_k (s(p, k) - mean_k s(p, .))^2
//   win_rate_{c,r}        = (1/N) sum_{p,k} w(s_c(p, k), s_base(p, k)),
//                           w = 1 if greater, 1/2 if equal, 0 if less      (paired by prompt and seed)
//   win_rate CI           paired bootstrap over prompts: B resamples of P prompts drawn with
//                         replacement; each resample's win rate as above over the drawn prompts;
//                         the 2.5th and 97.5th percentiles (linear interpolation, numpy's default)
//   diversity_c           = (1/P) sum_p mean_{i<j} (1 - cos(e_c(p, i), e_c(p, j)))   (K >= 2)
// The resamples are drawn once (BootstrapDraws) and shared by every
// checkpoint and reward, so their intervals come from the same resampled prompt sets.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::evaluation {

struct ImageRecord {
  int checkpoint = 0;  // index into EvaluationData::checkpoints
  int64_t prompt = 0;  // 0 .. prompts - 1
  int64_t seed = 0;    // 0 .. seeds - 1
  std::vector<double> scores;   // one per reward, in EvaluationData::rewards' order
  std::vector<float> embedding;  // CLIP image embedding (any norm: cosines normalise)
};

struct EvaluationData {
  std::vector<std::string> checkpoints;
  std::vector<std::string> rewards;
  int base = 0;
  int64_t prompts = 0;
  int64_t seeds = 0;
  std::vector<ImageRecord> images;  // every (checkpoint, prompt, seed) exactly once, any order
};

struct BootstrapOptions {
  int64_t resamples = 1000;  // 0: no interval
  uint64_t seed = 0;
};

struct RewardFigures {
  double mean = 0;
  double std = 0;
  double prompt_variance = 0;
  double win_rate = 0;  // against the base; the base against itself: 1/2
  std::optional<double> win_rate_ci_low, win_rate_ci_high;
};

struct CheckpointFigures {
  std::string name;
  bool is_base = false;
  std::vector<RewardFigures> rewards;  // in EvaluationData::rewards' order
  std::optional<double> diversity;     // nullopt with one seed
};

struct EvaluationFigures {
  std::vector<std::string> rewards;
  int64_t prompts = 0;
  int64_t seeds = 0;
  BootstrapOptions bootstrap;
  std::vector<CheckpointFigures> checkpoints;
};

// InvalidArgument naming the first problem: a record outside the ranges, a
// (checkpoint, prompt, seed) missing or twice, a score count that differs
// from the rewards', a non-finite score, embeddings of different sizes or of
// norm 0.
absl::StatusOr<EvaluationFigures> ComputeFigures(const EvaluationData& data, const BootstrapOptions& bootstrap);

// The prompt indices of each resample: `resamples` rows of `prompts` draws,
// uniform in [0, prompts) from CounterRng(DeriveSeed(seed, {kBootstrapStream}))
// (common/random.h), row after row.
inline constexpr uint64_t kBootstrapStream = 0x626f6f74;  // "boot"
std::vector<std::vector<int64_t>> BootstrapDraws(int64_t prompts, const BootstrapOptions& bootstrap);

// The q-quantile (q in [0, 1]) of `values` with linear interpolation between
// order statistics (numpy.percentile's default); `values` must not be empty.
double Quantile(std::vector<double> values, double q);

// Mean over pairs i < j of 1 - cos(a_i, a_j); 0 for fewer than two vectors.
double MeanPairwiseCosineDistance(const std::vector<std::vector<float>>& embeddings);

}  // namespace align::evaluation
