#pragma once
// The plan of a whole job: which pairs each rank trains on at each step and,
// with a curriculum, which stage a step belongs to. Two implementations:
// UniformPlanner (PairPlan: epochs over every pair) and CurriculumPlan
// (curriculum_plan.h). The coordinator streams a StepPlanner's output to the
// workers; `align-worker train` runs the same planner locally, so both give
// the same order for the same spec and dataset.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/plan/pair_plan.h"

namespace align::plan {

class StepPlanner {
 public:
  virtual ~StepPlanner() = default;
  virtual const PairPlanConfig& config() const = 0;
  // `rank`'s pairs for micro-batch `micro` of optimizer step `step` (0-based).
  virtual MicroBatchPlan PairsFor(int64_t step, int rank, int64_t micro) const = 0;
  // Curriculum stage of `step` (0-based); 0 without a curriculum.
  virtual int64_t StageOf(int64_t step) const { return 0; }
  virtual int64_t num_stages() const { return 1; }
  // First step of `stage`.
  virtual int64_t StageStart(int64_t stage) const { return 0; }
};

// Every pair once per epoch, epochs keyed by (seed, epoch): PairPlan.
class UniformPlanner : public StepPlanner {
 public:
  explicit UniformPlanner(const PairPlanConfig& config) : plan_(config) {}
  const PairPlanConfig& config() const override { return plan_.config(); }
  MicroBatchPlan PairsFor(int64_t step, int rank, int64_t micro) const override {
    return plan_.PairsFor(step, rank, micro);
  }

 private:
  PairPlan plan_;
};

// Per-pair difficulty (larger = harder) for a curriculum, from the train
// split of the prepared dataset in `dataset_dir`: rank_gap uses the shards'
// `difficulty`; score_gap uses -(score_w - score_l) (a large score gap is
// easy). Reads only these per-pair scalars, never latents.
absl::StatusOr<std::vector<float>> LoadDifficulty(const std::string& dataset_dir, CurriculumDifficulty kind);

// The planner for `spec` on `world_size` ranks. `dataset_dir` is the spec's
// dataset, resolved: its manifest gives the train split's size, and with a
// curriculum its shards give the difficulties. InvalidArgument naming the
// field for a dataset that cannot be planned.
absl::StatusOr<std::unique_ptr<StepPlanner>> MakeStepPlanner(const JobSpec& spec, const std::string& dataset_dir,
                                                             int world_size);

}  // namespace align::plan
