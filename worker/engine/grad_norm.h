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

// The same two without reading the norm on the host, for a step that never
// waits for the device (a captured CUDA graph, worker/engine/step_graph.h).
// GlobalGradNorm as a 0-dim fp64 tensor on the gradients' device (on the CPU
// when no parameter has a gradient): the same value, the same operations.
torch::Tensor GlobalGradNormOnDevice(const std::vector<torch::Tensor>& params);
// Clipping as the trainer decides it on the host, decided on the device:
// every gradient times grad_clip / (norm + 1e-6) where norm > grad_clip, else
// times 1 (the same bits). The scale is computed in fp64 and applied in the
// gradients' dtype, as ScaleGradients applies its double. `norm` is what
// GlobalGradNormOnDevice returned; a NaN norm leaves the gradients alone.
void ClipGradientsOnDevice(const std::vector<torch::Tensor>& params, const torch::Tensor& norm, double grad_clip);

}  // namespace align::engine
