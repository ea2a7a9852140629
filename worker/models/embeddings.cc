#include "worker/models/embeddings.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>

namespace align::models {

torch::Tensor SinusoidalEmbedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                  double freq_shift) {
  const int64_t half = dim / 2;
  auto fp32 = torch::TensorOptions().dtype(torch::kFloat).device(timesteps.device());
  torch::Tensor exponent = torch::arange(0, half, fp32) * (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half) - freq_shift);
  torch::Tensor angles = timesteps.to(torch::kFloat).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);
  torch::Tensor sin = torch::sin(angles), cos = torch::cos(angles);
  torch::Tensor emb = flip_sin_to_cos ? torch::cat({cos, sin}, -1) : torch::cat({sin, cos}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1}, 0);
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim,
                                             const torch::TensorOptions& options) {
  linear_1 = register_module("linear_1", Linear(in_channels, embed_dim, true, options));
  linear_2 = register_module("linear_2", Linear(embed_dim, embed_dim, true, options));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x) {
  return linear_2(torch::silu(linear_1(x)));
}

}  // namespace align::models
