#pragma once
// The attention kernel over [batch, heads, tokens, head_dim] tensors, shared
// by the UNet's Attention module and the VAE's mid-block attention.

#include <torch/types.h>

namespace align::models {

// softmax(q k^T / sqrt(head_dim)) v through at::scaled_dot_product_attention
// (flash / memory-efficient kernels on GPUs). With `upcast` the scores are
// computed in fp32 whatever the input dtype.
torch::Tensor ScaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, bool upcast);

}  // namespace align::models
