#pragma once
// transformers' CLIPTextModel / CLIPTextModelWithProjection, SDXL's two text
// encoders: token + position embeddings, the CLIP encoder (clip_encoder.h) with
// causal self-attention, final_layer_norm, pooling
// at the end-of-text token, and (with projection) text_projection.
//
// Parameters are named as transformers 5 writes them (`embeddings.*`,
// `encoder.layers.N.*`, `final_layer_norm.*`, `text_projection.weight`); the
// loader also accepts transformers 4's `text_model.` prefix (real SDXL
// text encoders), and ignores the legacy `embeddings.position_ids` buffer as
// transformers does.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/safetensors/sharded_weights.h"
#include "common/diffusers/clip_config.h"
#include "worker/models/clip_encoder.h"
#include "worker/models/layers.h"

namespace align::models {

// nn.Embedding's parameter ("weight" [num, dim]).
class ClipEmbeddingImpl : public torch::nn::Module {
 public:
  ClipEmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;
};
TORCH_MODULE(ClipEmbedding);

class ClipTextEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipTextEmbeddingsImpl(const diffusers::ClipTextConfig& config, const torch::TensorOptions& options);
  // input_ids [B, T] (T <= max_position_embeddings) -> [B, T, hidden].
  torch::Tensor forward(const torch::Tensor& input_ids);

 private:
  ClipEmbedding token_embedding{nullptr}, position_embedding{nullptr};
};
TORCH_MODULE(ClipTextEmbeddings);

struct ClipTextOutput {
  // The embeddings, then each layer's output: num_hidden_layers + 1 entries,
  // none with final_layer_norm applied (transformers' hidden_states).
  std::vector<torch::Tensor> hidden_states;
  torch::Tensor last_hidden_state;  // final_layer_norm(hidden_states.back())
  torch::Tensor pooler_output;      // last_hidden_state at the end-of-text position [B, hidden]
  torch::Tensor text_embeds;        // text_projection(pooler_output); undefined without projection

  // hidden_states[-2]: what SDXL conditions the UNet on, from both encoders.
  const torch::Tensor& penultimate() const { return hidden_states[hidden_states.size() - 2]; }
  // text_embeds with a projection, else pooler_output (SDXL uses encoder 2's text_embeds).
  const torch::Tensor& pooled() const { return text_embeds.defined() ? text_embeds : pooler_output; }
};

class ClipTextModelImpl : public torch::nn::Module {
 public:
  // `with_projection`: CLIPTextModelWithProjection (adds text_projection).
  ClipTextModelImpl(const diffusers::ClipTextConfig& config, bool with_projection, const torch::TensorOptions& options);
  // input_ids [B, T] int64, T <= max_position_embeddings.
  ClipTextOutput forward(const torch::Tensor& input_ids);

  const diffusers::ClipTextConfig& config() const { return config_; }
  bool with_projection() const { return !text_projection.is_empty(); }

 private:
  diffusers::ClipTextConfig config_;
  // Registered as "embeddings", "encoder" (holding "layers"), "final_layer_norm".
  ClipTextEmbeddings embeddings{nullptr};
  ClipEncoder encoder{nullptr};  // causal
  LayerNorm final_layer_norm{nullptr};
  Linear text_projection{nullptr};
};
TORCH_MODULE(ClipTextModel);

// Builds the model `dir/config.json` describes with parameters of `options`
// and loads `dir/model.safetensors` (or its sharded index). Whether it has a
// projection comes from the config's `architectures`, or, without that key,
// from whether the weights hold text_projection.weight.
absl::StatusOr<ClipTextModel> LoadClipTextModel(const std::string& dir, const torch::TensorOptions& options);

}  // namespace align::models
