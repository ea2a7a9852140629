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

torch::Tensor GuidanceScaleEmbedding(const torch::Tensor& w, int64_t dim) {
  TORCH_CHECK(w.dim() == 1, "guidance scales must be [N], got ", w.sizes());
  TORCH_CHECK(dim >= 4, "guidance embedding dim must be at least 4, got ", dim);
  const int64_t half = dim / 2;
  auto fp32 = torch::TensorOptions().dtype(torch::kFloat).device(w.device());
  const torch::Tensor step = torch::log(torch::tensor(10000.0, fp32)) / static_cast<double>(half - 1);
  const torch::Tensor freqs = torch::exp(torch::arange(half, fp32) * -step);
  const torch::Tensor angles = (w.to(torch::kFloat) * 1000.0).unsqueeze(1) * freqs.unsqueeze(0);
  torch::Tensor emb = torch::cat({torch::sin(angles), torch::cos(angles)}, 1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1}, 0);
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim,
                                             const torch::TensorOptions& options, int64_t cond_proj_dim) {
  linear_1 = register_module("linear_1", Linear(in_channels, embed_dim, true, options));
  linear_2 = register_module("linear_2", Linear(embed_dim, embed_dim, true, options));
  if (cond_proj_dim > 0) {
    cond_proj = register_module("cond_proj", Linear(cond_proj_dim, in_channels, false, options));
  }
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x, const torch::Tensor& condition) {
  TORCH_CHECK(condition.defined() == !cond_proj.is_empty(),
              cond_proj.is_empty() ? "this timestep embedding takes no condition"
                                   : "this timestep embedding needs a condition (timestep_cond)");
  torch::Tensor h = condition.defined() ? x + cond_proj(condition) : x;
  return linear_2(torch::silu(linear_1(h)));
}

}  // namespace align::models
