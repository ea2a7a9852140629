#pragma once
// diffusers' Attention as the UNet's transformer blocks use it: to_q, to_k,
// to_v and to_out.0 around multi-head scaled dot-product attention, for
// self-attention (attn1) and cross-attention to the text embeddings (attn2).

#include <cstdint>

#include "worker/models/layers.h"

namespace align::models {

class AttentionImpl : public torch::nn::Module {
 public:
  // context_dim == 0: self-attention (keys/values from the query input).
  AttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim,
                bool upcast, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});

 private:
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, out_proj{nullptr};
  int64_t heads_;
  bool upcast_;
};
TORCH_MODULE(Attention);

}  // namespace align::models
