#pragma once
// Mixed precision: within a scope, matmuls and convolutions run in bf16 while
// parameters (the fp32 master weights) and reductions stay fp32. Wraps the
// LibTorch autocast API's per-device-type state.

#include <torch/types.h>

namespace align::models {

// Whether bf16 autocast is on, per device type. Activation recomputation records
// it at forward time and restores it for the recomputation in backward.
struct AutocastState {
  bool cpu = false;
  bool cuda = false;
};
AutocastState CurrentAutocast();

class AutocastScope {
 public:
  // Turns bf16 autocast on for `device`'s type when `enabled`.
  AutocastScope(torch::Device device, bool enabled);
  // Sets exactly `state` for the scope.
  explicit AutocastScope(const AutocastState& state);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  AutocastState previous_;
};

// Within this scope, autocast's bf16 copies of fp32 weights outlive the
// forward that made them: every forward and every activation recomputation
// of one training step (its micro-batches, backward's recomputed blocks) uses
// the copy made at the weight's first use, so each weight is cast once per
// step. The copies are what autocast makes anyway (the same values); they are
// dropped when the scope ends, which must be before the optimizer changes the
// weights. The cost: under activation checkpointing the copies stay for the
// whole step instead of one forward (2 bytes per trainable weight).
// A copy first cast in a no-grad forward (a checkpointed block's) still
// carries autograd history: LibTorch casts cached weights with grad enabled
// (at::autocast::cached_cast), so backward's recomputation may reuse it;
// autocast_test fails if a LibTorch stops doing so.
class WeightCastCache {
 public:
  WeightCastCache();
  ~WeightCastCache();
  WeightCastCache(const WeightCastCache&) = delete;
  WeightCastCache& operator=(const WeightCastCache&) = delete;
  static bool Active();
};

}  // namespace align::models
