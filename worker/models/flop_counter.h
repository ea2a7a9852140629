#pragma once
// Counts the model FLOPs of the matmul-like work (linear layers, convolutions,
// attention) done on this thread while a ScopedFlopCount is alive, at 2 FLOPs
// per multiply-add. Norms and elementwise ops are left out, as in the usual
// "model FLOPs" figures that TFLOP/s numbers are quoted against.

#include <cstdint>

namespace align::models {

class ScopedFlopCount {
 public:
  ScopedFlopCount();
  ~ScopedFlopCount();
  ScopedFlopCount(const ScopedFlopCount&) = delete;
  ScopedFlopCount& operator=(const ScopedFlopCount&) = delete;

  double flops() const { return flops_; }

 private:
  friend void CountFlops(double);
  double flops_ = 0;
  ScopedFlopCount* outer_;
};

// Adds to the innermost active count, if any; cheap when none is active.
void CountFlops(double flops);

}  // namespace align::models
