#pragma once
// The LAION aesthetic predictor (christophschuhmann/improved-aesthetic-predictor,
// sac+logos+ava1-l14-linearMSE): a linear stack on the L2-normalised CLIP
// ViT-L/14 image embedding, no activations (its ReLUs are commented out in the
// published code) and dropouts that are identities at inference:
//   layers.0 Linear(768, 1024), Dropout(0.2), layers.2 Linear(1024, 128),
//   Dropout(0.2), layers.4 Linear(128, 64), Dropout(0.1), layers.6 Linear(64, 16),
//   layers.7 Linear(16, 1)
// The head's widths are read from its weights. Its folder: the CLIP folder
// (CLIPModel or CLIPVisionModelWithProjection, e.g. openai/clip-vit-large-patch14)
// with preprocessor_config.json, plus `aesthetic_head.safetensors` holding the
// published state dict's names (layers.0.weight, layers.0.bias, ...).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "worker/models/layers.h"
#include "worker/reward/clip_image_embedder.h"
#include "worker/reward/reward_model.h"

namespace align::reward {

inline constexpr char kAestheticHeadFile[] = "aesthetic_head.safetensors";

class AestheticHeadImpl : public torch::nn::Module {
 public:
  // widths: {in, h0, h1, h2, h3} for layers.0 .. layers.6; layers.7 maps h3 -> 1.
  AestheticHeadImpl(const std::vector<int64_t>& widths, const torch::TensorOptions& options);
  // [N, in] (normalised embeddings) -> [N, 1].
  torch::Tensor forward(const torch::Tensor& x);

 private:
  std::vector<models::Linear> linears_;
};
TORCH_MODULE(AestheticHead);

// Reads the head's weights file; widths come from the shapes.
absl::StatusOr<AestheticHead> LoadAestheticHead(const std::string& path, const torch::TensorOptions& options);

class AestheticReward : public RewardModel {
 public:
  static absl::StatusOr<std::unique_ptr<AestheticReward>> Load(const std::string& folder, torch::Device device);

  // Prompts are not used (the score is the image's alone), but there must be one per image.
  absl::StatusOr<std::vector<double>> Score(const std::vector<imaging::RgbImage>& images,
                                            const std::vector<std::string>& prompts) override;
  // The head on normalised embeddings [N, dim].
  std::vector<double> ScoreEmbeddings(const torch::Tensor& normalized_embeds);

 private:
  AestheticReward(std::unique_ptr<ClipImageEmbedder> embedder, AestheticHead head, torch::Device device);

  std::unique_ptr<ClipImageEmbedder> embedder_;
  AestheticHead head_;
  torch::Device device_;
};

}  // namespace align::reward
