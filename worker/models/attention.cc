#include "worker/models/attention.h"

#include <torch/torch.h>

#include "worker/models/scaled_dot_product.h"

namespace align::models {

AttentionImpl::AttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads,
                             int64_t head_dim, bool upcast, const torch::TensorOptions& options)
    : heads_(heads), upcast_(upcast) {
  const int64_t inner = heads * head_dim;
  const int64_t kv_dim = context_dim > 0 ? context_dim : query_dim;
  to_q = register_module("to_q", Linear(query_dim, inner, false, options));
  to_k = register_module("to_k", Linear(kv_dim, inner, false, options));
  to_v = register_module("to_v", Linear(kv_dim, inner, false, options));
  auto to_out = register_module("to_out", torch::nn::ModuleList());
  out_proj = Linear(inner, query_dim, true, options);
  to_out->push_back(out_proj);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const torch::Tensor& kv_input = context.defined() ? context : x;
  const int64_t batch = x.size(0);
  auto split_heads = [&](const torch::Tensor& t) {
    return t.view({batch, -1, heads_, t.size(-1) / heads_}).transpose(1, 2);
  };
  torch::Tensor q = split_heads(to_q(x));
  torch::Tensor k = split_heads(to_k(kv_input));
  torch::Tensor v = split_heads(to_v(kv_input));
  torch::Tensor attended = ScaledDotProductAttention(q, k, v, upcast_);
  attended = attended.transpose(1, 2).reshape({batch, -1, attended.size(1) * attended.size(3)});
  return out_proj(attended);
}

}  // namespace align::models
