#pragma once
// Curriculum DPO's data order: pairs sorted from easy to hard, training in
// `stages` stages of `steps_per_stage` optimizer steps. Stage k (0-based)
// draws from a cumulative pool, the easiest ceil((k+1) N / stages) pairs, so
// the last stage sees every pair; steps past stages x steps_per_stage stay in
// the last stage.
//
// Within a stage the pool is visited in epochs, each a permutation keyed by
// (seed, stage, epoch): no pair of the pool is lost or repeated within an
// epoch, and the plan of a step is a pure function of (config, difficulty,
// step), so a resumed job, the coordinator and a local run agree. Stream
// positions (which key noise and timesteps) are the global ones PairPlan uses:
// step x pairs_per_step + micro x pairs_per_rank x world_size + rank x
// pairs_per_rank + i.

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "common/plan/step_planner.h"

namespace align::plan {

struct CurriculumConfig {
  PairPlanConfig base;  // num_pairs must equal difficulty.size()
  int64_t stages = 1;
  int64_t steps_per_stage = 1;
  // Stage k's pool is the pairs whose difficulty is among the k + 1 lowest
  // distinct values (a dataset whose difficulty is a stage number) instead of
  // an equal share of the sorted pairs.
  bool pools_by_level = false;
};

// The number of distinct difficulty values (pools_by_level needs at most `stages`).
int64_t DifficultyLevels(const std::vector<float>& difficulty);

class CurriculumPlan : public StepPlanner {
 public:
  // Throws std::invalid_argument for non-positive sizes, a difficulty
  // vector that does not match num_pairs, or more levels than stages with
  // pools_by_level.
  CurriculumPlan(const CurriculumConfig& config, const std::vector<float>& difficulty);

  const PairPlanConfig& config() const override { return config_.base; }
  MicroBatchPlan PairsFor(int64_t step, int rank, int64_t micro) const override;
  int64_t StageOf(int64_t step) const override;
  int64_t num_stages() const override { return config_.stages; }
  int64_t StageStart(int64_t stage) const override { return stage * config_.steps_per_stage; }

  // Pair indices from easiest to hardest (ties by index).
  const std::vector<int64_t>& easy_to_hard() const { return order_; }
  // Size of stage `stage`'s pool: its first PoolSize() entries of easy_to_hard().
  int64_t PoolSize(int64_t stage) const;
  // The pool of `stage` in the order of its epoch `epoch`.
  std::vector<int64_t> EpochOrder(int64_t stage, int64_t epoch) const;

 private:
  int64_t PairAt(int64_t stage, int64_t local_position) const;

  CurriculumConfig config_;
  std::vector<int64_t> order_;
  std::vector<int64_t> pool_ends_;  // by stage, with pools_by_level
  mutable std::mutex mu_;
  mutable std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> epochs_;  // small cache
};

}  // namespace align::plan
