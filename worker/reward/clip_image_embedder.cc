#include "worker/reward/clip_image_embedder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "common/status_macros.h"
#include "worker/models/clip_model.h"
#include "worker/reward/clip_inputs.h"
#include "worker/reward/reward_model.h"

namespace align::reward {

ClipImageEmbedder::ClipImageEmbedder(models::ClipVisionModel tower, imaging::ClipImageProcessorConfig preprocess,
                                     torch::Device device)
    : tower_(std::move(tower)), preprocess_(std::move(preprocess)), device_(device) {}

absl::StatusOr<std::unique_ptr<ClipImageEmbedder>> ClipImageEmbedder::Load(const std::string& folder,
                                                                           torch::Device device) {
  ASSIGN_OR_RETURN(models::ClipVisionModel tower,
                   models::LoadClipImageTower(folder, torch::TensorOptions().dtype(torch::kFloat).device(device)));
  tower->eval();
  ASSIGN_OR_RETURN(imaging::ClipImageProcessorConfig preprocess, LoadPreprocessorConfig(folder));
  return std::unique_ptr<ClipImageEmbedder>(new ClipImageEmbedder(std::move(tower), std::move(preprocess), device));
}

int64_t ClipImageEmbedder::dim() const {
  return tower_->named_parameters()["visual_projection.weight"].size(0);
}

torch::Tensor ClipImageEmbedder::EmbedPixels(const torch::Tensor& pixel_values) {
  torch::NoGradGuard no_grad;
  torch::Tensor embeds = tower_->forward(pixel_values.to(device_, torch::kFloat)).image_embeds;
  return (embeds / embeds.norm(2, -1, /*keepdim=*/true)).to(torch::kCPU);
}

absl::StatusOr<torch::Tensor> ClipImageEmbedder::Embed(const std::vector<imaging::RgbImage>& images) {
  std::vector<torch::Tensor> parts;
  for (size_t begin = 0; begin < images.size(); begin += kRewardBatchSize) {
    const size_t end = std::min(images.size(), begin + kRewardBatchSize);
    const std::vector<imaging::RgbImage> batch(images.begin() + begin, images.begin() + end);
    ASSIGN_OR_RETURN(torch::Tensor pixels, ClipPixelValues(batch, preprocess_, device_));
    parts.push_back(EmbedPixels(pixels));
  }
  if (parts.empty()) return torch::empty({0, dim()}, torch::kFloat);
  return torch::cat(parts);
}

}  // namespace align::reward
