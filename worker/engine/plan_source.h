#pragma once
// Where a rank learns which pairs to train on: computed locally (standalone
// `align-worker train`) or streamed from the coordinator. Plain C++, so the
// RPC side of the worker can implement it without LibTorch.

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/plan/pair_plan.h"

namespace align::engine {

class PlanSource {
 public:
  virtual ~PlanSource() = default;
  virtual absl::StatusOr<plan::MicroBatchPlan> MicroBatch(int64_t step, int64_t micro) = 0;
};

// The planner run in-process for this rank.
class LocalPlanSource : public PlanSource {
 public:
  LocalPlanSource(const plan::PairPlanConfig& config, int rank) : plan_(config), rank_(rank) {}
  absl::StatusOr<plan::MicroBatchPlan> MicroBatch(int64_t step, int64_t micro) override {
    return plan_.PairsFor(step, rank_, micro);
  }

 private:
  plan::PairPlan plan_;
  int rank_;
};

}  // namespace align::engine
