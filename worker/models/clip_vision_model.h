#pragma once
// transformers' CLIP image tower: CLIPVisionModel / CLIPVisionModelWithProjection
// (an IP-Adapter pipeline's image_encoder/, the image half of a CLIPModel).
// Patch embedding (a conv without bias, stride = kernel = patch_size), a
// learned class token, position embeddings, pre_layrnorm (transformers'
// spelling), the CLIP encoder shared with the text tower (clip_encoder.h,
// attending over every patch), post_layernorm on the class token and, with a
// projection, visual_projection (no bias).
//
// Parameters are named as transformers writes them (`vision_model.embeddings.*`,
// `vision_model.pre_layrnorm.*`, `vision_model.encoder.layers.N.*`,
// `vision_model.post_layernorm.*`, `visual_projection.weight`); the legacy
// `vision_model.embeddings.position_ids` buffer is ignored on load.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/diffusers/clip_model_config.h"
#include "worker/models/clip_encoder.h"
#include "worker/models/clip_text_model.h"
#include "worker/models/layers.h"

namespace align::models {

class ClipVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipVisionEmbeddingsImpl(const diffusers::ClipVisionConfig& config, const torch::TensorOptions& options);
  // pixel_values [B, 3, image_size, image_size] -> [B, 1 + patches, hidden]:
  // the class token, then the patches row by row, plus position embeddings.
  torch::Tensor forward(const torch::Tensor& pixel_values);

 private:
  torch::Tensor class_embedding;        // [hidden]
  torch::Tensor patch_embedding_weight;  // patch_embedding.weight [hidden, 3, patch, patch]
  ClipEmbedding position_embedding{nullptr};
  int64_t patch_size_;
};
TORCH_MODULE(ClipVisionEmbeddings);

struct ClipVisionOutput {
  // pre_layrnorm(embeddings), then each layer's output (transformers'
  // hidden_states, num_hidden_layers + 1 entries).
  std::vector<torch::Tensor> hidden_states;
  torch::Tensor last_hidden_state;  // hidden_states.back(): no layer norm, as transformers returns it
  torch::Tensor pooler_output;      // post_layernorm(last_hidden_state[:, 0]) [B, hidden]
  torch::Tensor image_embeds;       // visual_projection(pooler_output); undefined without projection

  // hidden_states[-2]: what IP-Adapter Plus conditions on.
  const torch::Tensor& penultimate() const { return hidden_states[hidden_states.size() - 2]; }
};

// CLIPVisionTransformer: the `vision_model` of both CLIPVisionModel and CLIPModel.
class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  ClipVisionTransformerImpl(const diffusers::ClipVisionConfig& config, const torch::TensorOptions& options);
  // pixel_values [B, 3, image_size, image_size] (normalised); fills
  // hidden_states, last_hidden_state and pooler_output.
  ClipVisionOutput forward(const torch::Tensor& pixel_values);

  const diffusers::ClipVisionConfig& config() const { return config_; }

 private:
  diffusers::ClipVisionConfig config_;
  ClipVisionEmbeddings embeddings{nullptr};
  LayerNorm pre_layrnorm{nullptr};
  ClipEncoder encoder{nullptr};
  LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

class ClipVisionModelImpl : public torch::nn::Module {
 public:
  // `with_projection`: CLIPVisionModelWithProjection (adds visual_projection
  // of width `projection_dim`).
  ClipVisionModelImpl(const diffusers::ClipVisionConfig& config, bool with_projection, int64_t projection_dim,
                      const torch::TensorOptions& options);
  ClipVisionOutput forward(const torch::Tensor& pixel_values);

  const diffusers::ClipVisionConfig& config() const { return vision_model->config(); }
  bool with_projection() const { return !visual_projection.is_empty(); }

 private:
  ClipVisionTransformer vision_model{nullptr};
  Linear visual_projection{nullptr};
};
TORCH_MODULE(ClipVisionModel);

// Builds the model `dir/config.json` describes with parameters of `options`
// and loads `dir/model.safetensors` (or its sharded index). Whether it has a
// projection comes from the config's `architectures`, or, without that key,
// from whether the weights hold visual_projection.weight. A folder of another
// kind is an error naming what it holds.
absl::StatusOr<ClipVisionModel> LoadClipVisionModel(const std::string& dir, const torch::TensorOptions& options);

}  // namespace align::models
