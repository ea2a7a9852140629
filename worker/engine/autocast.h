#pragma once
// Mixed precision: within a scope, matmuls and convolutions run in bf16 while
// parameters (the fp32 master weights) and reductions stay fp32. Wraps the
// LibTorch autocast API, whose spelling differs between LibTorch 1.x and 2.x.

#include <torch/types.h>

namespace align::engine {

class AutocastScope {
 public:
  AutocastScope(torch::Device device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::Device device_;
  bool enabled_;
  bool previous_ = false;
};

}  // namespace align::engine
