#pragma once
// transformers' CLIPModel: a text tower and an image tower, each followed by a
// bias-free projection into one embedding space, and the learned temperature
// logit_scale. The layout of openai/laion CLIP checkpoints and of PickScore_v1:
// `text_model.*` (clip_text_model.h without its own projection),
// `vision_model.*` (clip_vision_model.h), `text_projection.weight`,
// `visual_projection.weight`, `logit_scale` (a scalar). The legacy
// `*.embeddings.position_ids` buffers are ignored on load.

#include <string>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/diffusers/clip_model_config.h"
#include "worker/models/clip_text_model.h"
#include "worker/models/clip_vision_model.h"
#include "worker/models/layers.h"

namespace align::models {

// What transformers' CLIPModel.forward returns: its text_embeds / image_embeds
// are the projected embeddings divided by their L2 norm (get_text_features /
// get_image_features, i.e. EmbedText / EmbedImages below, are not normalised).
struct ClipModelOutput {
  torch::Tensor text_embeds;       // [T, projection_dim], projected and L2-normalised
  torch::Tensor image_embeds;      // [I, projection_dim], projected and L2-normalised
  torch::Tensor logits_per_image;  // [I, T] = exp(logit_scale) * cos(image_i, text_j)
};

class ClipModelImpl : public torch::nn::Module {
 public:
  ClipModelImpl(const diffusers::ClipModelConfig& config, const torch::TensorOptions& options);

  // input_ids [T, tokens] int64 -> text_projection(pooled text) [T, projection_dim]
  // (get_text_features: not normalised).
  torch::Tensor EmbedText(const torch::Tensor& input_ids);
  // pixel_values [I, 3, S, S] (normalised) -> visual_projection(pooled image)
  // [I, projection_dim] (get_image_features: not normalised).
  torch::Tensor EmbedImages(const torch::Tensor& pixel_values);
  // exp(logit_scale) * cos between every image and every text: [I, T].
  torch::Tensor LogitsPerImage(const torch::Tensor& image_embeds, const torch::Tensor& text_embeds);
  ClipModelOutput forward(const torch::Tensor& input_ids, const torch::Tensor& pixel_values);

  const diffusers::ClipModelConfig& config() const { return config_; }
  // exp(logit_scale) as a double: the trained temperature (100 for OpenAI's CLIP).
  double LogitScaleExp() const;

 private:
  diffusers::ClipModelConfig config_;
  ClipTextModel text_model{nullptr};
  ClipVisionTransformer vision_model{nullptr};
  Linear visual_projection{nullptr}, text_projection{nullptr};
  torch::Tensor logit_scale;  // [] (log of the temperature)
};
TORCH_MODULE(ClipModel);

// Builds the CLIPModel `dir/config.json` describes with parameters of
// `options` and loads `dir/model.safetensors` (or its sharded index). A folder
// of another kind is an error naming what it holds.
absl::StatusOr<ClipModel> LoadClipModel(const std::string& dir, const torch::TensorOptions& options);

// The image tower with its projection, from either a CLIPModel folder (its
// text half is not loaded) or a CLIPVisionModelWithProjection folder: what
// image-embedding users (the aesthetic head, diversity measures) need.
absl::StatusOr<ClipVisionModel> LoadClipImageTower(const std::string& dir, const torch::TensorOptions& options);

}  // namespace align::models
