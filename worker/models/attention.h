#pragma once
// Multi-head attention over [batch, heads, tokens, head_dim] tensors.

#include <torch/types.h>

namespace align::models {

// softmax(q k^T / sqrt(head_dim)) v. Uses at::scaled_dot_product_attention
// (flash / memory-efficient kernels on GPUs) where LibTorch has it (2.0 and
// later), and the explicit matmul-softmax-matmul path otherwise. With `upcast`
// the scores are computed in fp32 whatever the input dtype.
torch::Tensor ScaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, bool upcast);

// True when the fused kernel path is compiled in.
bool HasFusedAttention();

}  // namespace align::models
