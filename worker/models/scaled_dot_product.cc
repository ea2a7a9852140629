#include "worker/models/scaled_dot_product.h"

#include <torch/torch.h>

#include "worker/models/flop_counter.h"

namespace align::models {

namespace {

torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  return at::scaled_dot_product_attention(q, k, v);
}

}  // namespace

torch::Tensor ScaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, bool upcast) {
  // q k^T and (softmax) v: two [N x d] by [d x M] products per batch and head.
  CountFlops(4.0 * static_cast<double>(q.numel()) * static_cast<double>(k.size(-2)));
  if (upcast && q.scalar_type() != torch::kFloat) {
    return Attend(q.to(torch::kFloat), k.to(torch::kFloat), v.to(torch::kFloat)).to(q.scalar_type());
  }
  return Attend(q, k, v);
}

}  // namespace align::models
