#include "worker/models/clip_model.h"

#include <torch/torch.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/weights_io.h"

namespace align::models {
namespace {

// Buffers transformers < 4.31 saved; later versions drop them on load.
const char kTextPositionIds[] = "text_model.embeddings.position_ids";
const char kVisionPositionIds[] = "vision_model.embeddings.position_ids";

torch::Tensor L2Normalize(const torch::Tensor& x) { return x / x.norm(2, -1, /*keepdim=*/true); }

absl::Status WithDir(const std::string& dir, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(dir, ": ", status.message()));
}

}  // namespace

ClipModelImpl::ClipModelImpl(const diffusers::ClipModelConfig& config, const torch::TensorOptions& options)
    : config_(config) {
  text_model = register_module("text_model", ClipTextModel(config.text, /*with_projection=*/false, options));
  vision_model = register_module("vision_model", ClipVisionTransformer(config.vision, options));
  visual_projection = register_module(
      "visual_projection", Linear(config.vision.hidden_size, config.projection_dim, false, options));
  text_projection =
      register_module("text_projection", Linear(config.text.hidden_size, config.projection_dim, false, options));
  logit_scale = register_parameter("logit_scale", torch::empty({}, options));
}

torch::Tensor ClipModelImpl::EmbedText(const torch::Tensor& input_ids) {
  return text_projection(text_model(input_ids).pooler_output);
}

torch::Tensor ClipModelImpl::EmbedImages(const torch::Tensor& pixel_values) {
  return visual_projection(vision_model(pixel_values).pooler_output);
}

torch::Tensor ClipModelImpl::LogitsPerImage(const torch::Tensor& image_embeds, const torch::Tensor& text_embeds) {
  return logit_scale.exp() * torch::matmul(L2Normalize(image_embeds), L2Normalize(text_embeds).t());
}

ClipModelOutput ClipModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& pixel_values) {
  ClipModelOutput out;
  out.text_embeds = L2Normalize(EmbedText(input_ids));
  out.image_embeds = L2Normalize(EmbedImages(pixel_values));
  out.logits_per_image = logit_scale.exp() * torch::matmul(out.image_embeds, out.text_embeds.t());
  return out;
}

double ClipModelImpl::LogitScaleExp() const { return logit_scale.detach().to(torch::kDouble).exp().item<double>(); }

absl::StatusOr<ClipModel> LoadClipModel(const std::string& dir, const torch::TensorOptions& options) {
  const std::string expected = ClipFolderKindName(diffusers::ClipFolderKind::kClipModel);
  ASSIGN_OR_RETURN(diffusers::ClipFolderKind kind, diffusers::ReadClipFolderKind(dir, expected));
  if (kind != diffusers::ClipFolderKind::kClipModel) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": expected ", expected, ", found ", diffusers::DescribeModelFolder(dir)));
  }
  ASSIGN_OR_RETURN(diffusers::ClipModelConfig config, diffusers::LoadClipModelConfig(diffusers::ConfigPath(dir)));
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(dir, diffusers::kTransformersWeightsBase));
  ClipModel model(config, options);
  LoadOptions load;
  load.ignored_keys = {kTextPositionIds, kVisionPositionIds};
  RETURN_IF_ERROR(WithDir(dir, LoadParameters(*model, weights, load)));
  return model;
}

absl::StatusOr<ClipVisionModel> LoadClipImageTower(const std::string& dir, const torch::TensorOptions& options) {
  const std::string expected = "a CLIPModel or CLIPVisionModelWithProjection folder";
  ASSIGN_OR_RETURN(diffusers::ClipFolderKind kind, diffusers::ReadClipFolderKind(dir, expected));
  if (kind == diffusers::ClipFolderKind::kVisionModel) {
    ASSIGN_OR_RETURN(ClipVisionModel model, LoadClipVisionModel(dir, options));
    if (!model->with_projection()) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": expected ", expected,
                                                     ", found a CLIPVisionModel without visual_projection"));
    }
    return model;
  }
  if (kind != diffusers::ClipFolderKind::kClipModel) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": expected ", expected, ", found ", diffusers::DescribeModelFolder(dir)));
  }
  ASSIGN_OR_RETURN(diffusers::ClipModelConfig config, diffusers::LoadClipModelConfig(diffusers::ConfigPath(dir)));
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(dir, diffusers::kTransformersWeightsBase));
  ClipVisionModel model(config.vision, /*with_projection=*/true, config.projection_dim, options);
  LoadOptions load;
  load.ignored_keys = {kTextPositionIds, kVisionPositionIds, "text_projection.weight", "logit_scale"};
  for (const std::string& name : weights.Names()) {
    if (absl::StartsWith(name, "text_model.")) load.ignored_keys.push_back(name);
  }
  RETURN_IF_ERROR(WithDir(dir, LoadParameters(*model, weights, load)));
  return model;
}

}  // namespace align::models
