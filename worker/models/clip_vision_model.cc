#include "worker/models/clip_vision_model.h"

#include <memory>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/weights_io.h"

namespace align::models {

ClipVisionEmbeddingsImpl::ClipVisionEmbeddingsImpl(const diffusers::ClipVisionConfig& config,
                                                   const torch::TensorOptions& options)
    : patch_size_(config.patch_size) {
  class_embedding = register_parameter("class_embedding", torch::empty({config.hidden_size}, options));
  // The patch embedding is a bias-free conv; layers.h's Conv2d always has a bias.
  auto patch = register_module("patch_embedding", std::make_shared<torch::nn::Module>());
  patch_embedding_weight = patch->register_parameter(
      "weight", torch::empty({config.hidden_size, 3, config.patch_size, config.patch_size}, options));
  position_embedding =
      register_module("position_embedding", ClipEmbedding(config.num_positions(), config.hidden_size, options));
}

torch::Tensor ClipVisionEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  const int64_t batch = pixel_values.size(0);
  torch::Tensor patches = torch::conv2d(pixel_values.to(patch_embedding_weight.dtype()), patch_embedding_weight,
                                        /*bias=*/{}, /*stride=*/patch_size_);
  patches = patches.flatten(2).transpose(1, 2);  // [B, patches, hidden]
  torch::Tensor cls = class_embedding.expand({batch, 1, class_embedding.size(0)});
  torch::Tensor tokens = torch::cat({cls, patches}, 1);
  torch::Tensor positions =
      torch::arange(tokens.size(1), torch::TensorOptions().dtype(torch::kLong).device(tokens.device()));
  return tokens + position_embedding(positions);
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const diffusers::ClipVisionConfig& config,
                                                     const torch::TensorOptions& options)
    : config_(config) {
  embeddings = register_module("embeddings", ClipVisionEmbeddings(config, options));
  pre_layrnorm = register_module("pre_layrnorm", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  encoder = register_module("encoder", ClipEncoder(ClipEncoderShapeOf(config, /*causal=*/false), options));
  post_layernorm =
      register_module("post_layernorm", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
}

ClipVisionOutput ClipVisionTransformerImpl::forward(const torch::Tensor& pixel_values_in) {
  TORCH_CHECK(pixel_values_in.dim() == 4 && pixel_values_in.size(1) == 3 &&
                  pixel_values_in.size(2) == config_.image_size && pixel_values_in.size(3) == config_.image_size,
              "pixel_values must be [batch, 3, ", config_.image_size, ", ", config_.image_size, "], got ",
              pixel_values_in.sizes());
  const torch::Tensor pixel_values = pixel_values_in.to(post_layernorm->weight.device());
  ClipVisionOutput out;
  out.hidden_states = encoder(pre_layrnorm(embeddings(pixel_values)));
  out.last_hidden_state = out.hidden_states.back();
  out.pooler_output = post_layernorm(out.last_hidden_state.select(1, 0));
  return out;
}

ClipVisionModelImpl::ClipVisionModelImpl(const diffusers::ClipVisionConfig& config, bool with_projection,
                                         int64_t projection_dim, const torch::TensorOptions& options) {
  vision_model = register_module("vision_model", ClipVisionTransformer(config, options));
  if (with_projection) {
    visual_projection =
        register_module("visual_projection", Linear(config.hidden_size, projection_dim, false, options));
  }
}

ClipVisionOutput ClipVisionModelImpl::forward(const torch::Tensor& pixel_values) {
  ClipVisionOutput out = vision_model(pixel_values);
  if (!visual_projection.is_empty()) out.image_embeds = visual_projection(out.pooler_output);
  return out;
}

absl::StatusOr<ClipVisionModel> LoadClipVisionModel(const std::string& dir, const torch::TensorOptions& options) {
  ASSIGN_OR_RETURN(diffusers::ClipFolderKind kind,
                   diffusers::ReadClipFolderKind(dir, ClipFolderKindName(diffusers::ClipFolderKind::kVisionModel)));
  if (kind != diffusers::ClipFolderKind::kVisionModel) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": expected ", ClipFolderKindName(diffusers::ClipFolderKind::kVisionModel), ", found ",
                     diffusers::DescribeModelFolder(dir)));
  }
  ASSIGN_OR_RETURN(diffusers::ClipVisionConfig config,
                   diffusers::LoadClipVisionConfig(diffusers::ConfigPath(dir)));
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(dir, diffusers::kTransformersWeightsBase));
  const bool with_projection = config.with_projection.value_or(weights.Contains("visual_projection.weight"));
  ClipVisionModel model(config, with_projection, config.projection_dim, options);
  LoadOptions load;
  // transformers < 4.31 saved the position ids as a persistent buffer.
  load.ignored_keys = {"vision_model.embeddings.position_ids"};
  absl::Status loaded = LoadParameters(*model, weights, load);
  if (!loaded.ok()) return absl::Status(loaded.code(), absl::StrCat(dir, ": ", loaded.message()));
  return model;
}

}  // namespace align::models
