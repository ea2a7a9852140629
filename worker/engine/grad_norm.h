#pragma once
// The global gradient norm and clipping, as torch.nn.utils.clip_grad_norm_
// does them: the L2 norm over every gradient together (accumulated in fp64),
// then one scale of all gradients. One host synchronisation per step (the
// norm is read once), not one per parameter: on a GPU each read stalls the
// launch queue.

#include <vector>

#include <torch/types.h>

namespace align::engine {

// sqrt(sum over params of |grad|^2); params without a gradient count 0.
double GlobalGradNorm(const std::vector<torch::Tensor>& params);
// Multiplies every gradient by `scale` (multi-tensor where ATen has it).
void ScaleGradients(const std::vector<torch::Tensor>& params, double scale);

}  // namespace align::engine
