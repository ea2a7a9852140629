#pragma once
// GEGLU's gating as one op. For a projection [..., 2 * inner] with hidden half
// h = projection[..., :inner] and gate half a = projection[..., inner:]:
//   out = h * gelu(a)   (the exact, erf gelu), [..., inner].
// Unfused, LibTorch materialises the two halves' product, gelu(a), and saves
// gelu(a) besides the projection for backward; fused, forward reads the
// projection once, writes the output once, and saves only the projection.

#include <torch/torch.h>

namespace align::models {

// The gating as LibTorch ops: chunk, gelu, multiply (what GEGLU runs unfused).
torch::Tensor UnfusedGeglu(const torch::Tensor& projection);

// The gating as one differentiable op. float and bf16 tensors run fused: on
// CUDA our kernels (worker/kernels/geglu_kernel.h), on the CPU a reference loop;
// bf16 computes in fp32 and rounds once, so it differs from the unfused ops by
// bf16 rounding, fp32 by the rounding of erf and exp. Other dtypes, and CUDA
// tensors in a build without the kernels, run UnfusedGeglu. It is not twice
// differentiable (backward's result has no graph).
torch::Tensor FusedGeglu(const torch::Tensor& projection);

// Whether FusedGeglu runs `projection` fused (else UnfusedGeglu).
bool FusedGegluRunsFused(const torch::Tensor& projection);
// Whether this build has the CUDA kernels (CMake found nvcc).
bool FusedGegluHasCudaKernels();

// The fused op's two passes without autograd, for tensors FusedGegluRunsFused
// accepts: out [..., inner] from the projection [..., 2 * inner], and the
// projection's gradient [..., 2 * inner] from the output's gradient.
torch::Tensor FusedGegluForward(const torch::Tensor& projection);
torch::Tensor FusedGegluBackward(const torch::Tensor& grad_out, const torch::Tensor& projection);

class FusedGegluFunction : public torch::autograd::Function<FusedGegluFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& projection);
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs);
};

}  // namespace align::models
