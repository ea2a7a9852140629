#pragma once
// The transformer encoder that transformers' CLIP text and vision towers
// share (CLIPEncoder): pre-LayerNorm layers of multi-head self-attention
// (q/k/v/out projections with bias) and a quick_gelu or gelu MLP. The text
// tower attends causally, the image tower over every patch. Parameters are
// named as transformers writes them: `layers.N.self_attn.q_proj.*`,
// `layers.N.layer_norm1.*`, `layers.N.mlp.fc1.*`, ...

#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "common/diffusers/clip_config.h"
#include "worker/models/layers.h"

namespace align::models {

// The numbers an encoder layer is built from, common to CLIPTextConfig and
// CLIPVisionConfig.
struct ClipEncoderShape {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_hidden_layers = 0;
  diffusers::ClipActivation hidden_act = diffusers::ClipActivation::kQuickGelu;
  double layer_norm_eps = 1e-5;
  bool causal = false;  // the text tower's causal mask
};

// The shape of a text (ClipTextConfig, causal) or vision (ClipVisionConfig)
// tower's encoder: both configs name these numbers alike.
template <typename Config>
ClipEncoderShape ClipEncoderShapeOf(const Config& config, bool causal) {
  ClipEncoderShape shape;
  shape.hidden_size = config.hidden_size;
  shape.intermediate_size = config.intermediate_size;
  shape.num_attention_heads = config.num_attention_heads;
  shape.num_hidden_layers = config.num_hidden_layers;
  shape.hidden_act = config.hidden_act;
  shape.layer_norm_eps = config.layer_norm_eps;
  shape.causal = causal;
  return shape;
}

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options);
  // Multi-head self-attention over x [B, T, hidden], causal when the shape says so.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t heads_;
  bool causal_;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Linear fc1{nullptr}, fc2{nullptr};
  diffusers::ClipActivation act_;
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  ClipEncoderLayerImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ClipAttention self_attn{nullptr};
  LayerNorm layer_norm1{nullptr};
  ClipMlp mlp{nullptr};
  LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

// CLIPEncoder: registered as "layers" (a ModuleList of ClipEncoderLayer).
class ClipEncoderImpl : public torch::nn::Module {
 public:
  ClipEncoderImpl(const ClipEncoderShape& shape, const torch::TensorOptions& options);
  // transformers' hidden_states: the input, then each layer's output
  // (num_hidden_layers + 1 entries).
  std::vector<torch::Tensor> forward(const torch::Tensor& x);

 private:
  std::vector<ClipEncoderLayer> layers_;
};
TORCH_MODULE(ClipEncoder);

}  // namespace align::models
