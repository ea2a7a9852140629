#pragma once
// Activation recomputation (diffusers calls it gradient checkpointing): run a
// block without keeping its intermediate activations, and run it again during
// backward to get them. Trades one extra forward of the block for most of its
// activation memory.

#include <functional>
#include <vector>

#include <torch/types.h>

namespace align::models {

using RecomputedFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// Returns fn(inputs). When grad mode is on, the result's backward recomputes
// fn on the saved inputs and back-propagates through it, accumulating into the
// parameters fn uses (as torch.utils.checkpoint's reentrant variant does).
// fn must be deterministic (the UNet has no dropout at training time here).
torch::Tensor RecomputeInBackward(RecomputedFn fn, const std::vector<torch::Tensor>& inputs);

}  // namespace align::models
