#pragma once
// How far a tensor is from a reference: max |actual - expected| over
// max |expected|, in fp64 on the CPU. What verify-model reports per output and
// what the golden tests bound. A shape mismatch or a NaN is infinitely far.

#include <torch/torch.h>

namespace align::tools {

double MaxRelativeError(const torch::Tensor& actual, const torch::Tensor& expected);

}  // namespace align::tools
