#pragma once
// Where a rank learns which pairs to train on: computed locally (standalone
// `align-worker train`) or streamed from the coordinator. Plain C++, so the
// RPC side of the worker can implement it without LibTorch.

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/plan/pair_plan.h"
#include "common/plan/step_planner.h"

namespace align::engine {

class PlanSource {
 public:
  virtual ~PlanSource() = default;
  virtual absl::StatusOr<plan::MicroBatchPlan> MicroBatch(int64_t step, int64_t micro) = 0;
  // The curriculum stage of `step` (0-based; 0 without a curriculum).
  virtual int64_t StageOf(int64_t step) { return 0; }
};

// The planner run in-process for this rank.
class LocalPlanSource : public PlanSource {
 public:
  LocalPlanSource(const plan::PairPlanConfig& config, int rank)
      : plan_(std::make_unique<plan::UniformPlanner>(config)), rank_(rank) {}
  LocalPlanSource(std::unique_ptr<plan::StepPlanner> planner, int rank) : plan_(std::move(planner)), rank_(rank) {}
  absl::StatusOr<plan::MicroBatchPlan> MicroBatch(int64_t step, int64_t micro) override {
    return plan_->PairsFor(step, rank_, micro);
  }
  int64_t StageOf(int64_t step) override { return plan_->StageOf(step); }

 private:
  std::unique_ptr<plan::StepPlanner> plan_;
  int rank_;
};

}  // namespace align::engine
