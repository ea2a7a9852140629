#include "worker/models/clip_encoder.h"

#include <torch/torch.h>

namespace align::models {

ClipAttentionImpl::ClipAttentionImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options)
    : heads_(shape.num_attention_heads), causal_(shape.causal) {
  const int64_t d = shape.hidden_size;
  k_proj = register_module("k_proj", Linear(d, d, true, options));
  v_proj = register_module("v_proj", Linear(d, d, true, options));
  q_proj = register_module("q_proj", Linear(d, d, true, options));
  out_proj = register_module("out_proj", Linear(d, d, true, options));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0), tokens = x.size(1), hidden = x.size(2);
  auto split_heads = [&](const torch::Tensor& t) {
    return t.view({batch, tokens, heads_, hidden / heads_}).transpose(1, 2);
  };
  // softmax(q k^T / sqrt(head_dim) [+ causal mask]) v over [B, heads, T, head_dim].
  torch::Tensor attended = at::scaled_dot_product_attention(split_heads(q_proj(x)), split_heads(k_proj(x)),
                                                            split_heads(v_proj(x)), /*attn_mask=*/{},
                                                            /*dropout_p=*/0.0, /*is_causal=*/causal_);
  return out_proj(attended.transpose(1, 2).reshape({batch, tokens, hidden}));
}

ClipMlpImpl::ClipMlpImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options)
    : act_(shape.hidden_act) {
  fc1 = register_module("fc1", Linear(shape.hidden_size, shape.intermediate_size, true, options));
  fc2 = register_module("fc2", Linear(shape.intermediate_size, shape.hidden_size, true, options));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1(x);
  h = act_ == diffusers::ClipActivation::kQuickGelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", ClipAttention(shape, options));
  layer_norm1 = register_module("layer_norm1", LayerNorm(shape.hidden_size, shape.layer_norm_eps, options));
  mlp = register_module("mlp", ClipMlp(shape, options));
  layer_norm2 = register_module("layer_norm2", LayerNorm(shape.hidden_size, shape.layer_norm_eps, options));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

ClipEncoderImpl::ClipEncoderImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options) {
  auto list = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < shape.num_hidden_layers; ++i) {
    layers_.push_back(ClipEncoderLayer(shape, options));
    list->push_back(layers_.back());
  }
}

std::vector<torch::Tensor> ClipEncoderImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> hidden_states{x};
  torch::Tensor h = x;
  for (ClipEncoderLayer& layer : layers_) {
    h = layer(h);
    hidden_states.push_back(h);
  }
  return hidden_states;
}

}  // namespace align::models
