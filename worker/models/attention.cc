#include "worker/models/attention.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>

namespace align::models {

#if TORCH_VERSION_MAJOR >= 2
bool HasFusedAttention() { return true; }
#else
bool HasFusedAttention() { return false; }
#endif

namespace {

torch::Tensor ExplicitAttention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  return torch::matmul(scores.softmax(-1), v);
}

}  // namespace

torch::Tensor ScaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, bool upcast) {
  if (upcast && q.scalar_type() != torch::kFloat) {
    return ScaledDotProductAttention(q.to(torch::kFloat), k.to(torch::kFloat), v.to(torch::kFloat),
                                     /*upcast=*/false)
        .to(q.scalar_type());
  }
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  return ExplicitAttention(q, k, v);
#endif
}

}  // namespace align::models
