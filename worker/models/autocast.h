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

}  // namespace align::models
