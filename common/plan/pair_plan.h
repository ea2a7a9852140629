#pragma once
// Which pairs each rank trains on at each step. The dataset is visited in
// epochs, each a permutation keyed by (seed, epoch); optimizer step s consumes
// the next pairs_per_rank x grad_accum x world_size positions of that stream,
// rank-major within each micro-batch. Every pair is seen once per epoch, and
// the plan for a step is a pure function of its inputs, so a resumed job (or
// the coordinator streaming the plan) gives the same order.

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace align::plan {

// One rank's share of one micro-batch. `positions` are the pairs' places in
// the global stream: noise and timesteps are keyed by them, so the same pair at
// the same step gets the same draw however the step is split over ranks.
struct MicroBatchPlan {
  std::vector<int64_t> pairs;
  std::vector<int64_t> positions;
};

struct PairPlanConfig {
  int64_t num_pairs = 0;
  int64_t pairs_per_rank = 1;
  int64_t grad_accum = 1;
  int world_size = 1;
  uint64_t seed = 0;
};

class PairPlan {
 public:
  explicit PairPlan(const PairPlanConfig& config);

  const PairPlanConfig& config() const { return config_; }
  int64_t pairs_per_step() const;
  // Indices (into the split) of the pairs `rank` trains on in micro-batch
  // `micro` of optimizer step `step`.
  MicroBatchPlan PairsFor(int64_t step, int rank, int64_t micro) const;
  // The permutation of epoch `epoch`.
  std::vector<int64_t> EpochOrder(int64_t epoch) const;

 private:
  int64_t PairAt(int64_t position) const;

  PairPlanConfig config_;
  mutable std::mutex mu_;
  mutable std::map<int64_t, std::vector<int64_t>> epochs_;  // small cache
};

}  // namespace align::plan
