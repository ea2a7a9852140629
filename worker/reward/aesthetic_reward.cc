#include "worker/reward/aesthetic_reward.h"

#include <torch/torch.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/safetensors/sharded_weights.h"
#include "common/status_macros.h"
#include "worker/models/weights_io.h"

namespace align::reward {
namespace {

// Indices of the Linear layers in the published nn.Sequential (the others are Dropouts).
constexpr int kLinearIndices[] = {0, 2, 4, 6, 7};

}  // namespace

AestheticHeadImpl::AestheticHeadImpl(const std::vector<int64_t>& widths, const torch::TensorOptions& options) {
  auto list = register_module("layers", torch::nn::ModuleList());
  int next = 0;
  for (int i = 0; i < 5; ++i) {
    while (next < kLinearIndices[i]) {
      list->push_back(models::Placeholder());  // Dropout: identity at inference
      ++next;
    }
    const int64_t out = i + 1 < static_cast<int>(widths.size()) ? widths[i + 1] : 1;
    linears_.push_back(models::Linear(widths[i], out, /*with_bias=*/true, options));
    list->push_back(linears_.back());
    ++next;
  }
}

torch::Tensor AestheticHeadImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (models::Linear& linear : linears_) h = linear(h);
  return h;
}

absl::StatusOr<AestheticHead> LoadAestheticHead(const std::string& path, const torch::TensorOptions& options) {
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights, safetensors::ShardedWeights::OpenPath(path));
  std::vector<int64_t> widths;
  for (int i = 0; i < 4; ++i) {
    const std::string name = absl::StrCat("layers.", kLinearIndices[i], ".weight");
    absl::StatusOr<safetensors::TensorView> view = weights.Get(name);
    if (!view.ok() || view->info->shape.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected the aesthetic head's state dict (layers.0/2/4/6/7.weight and .bias), ",
                       "no 2-D ", name));
    }
    if (i == 0) widths.push_back(view->info->shape[1]);
    widths.push_back(view->info->shape[0]);
  }
  AestheticHead head(widths, options);
  absl::Status loaded = models::LoadParameters(*head, weights);
  if (!loaded.ok()) return absl::Status(loaded.code(), absl::StrCat(path, ": ", loaded.message()));
  return head;
}

AestheticReward::AestheticReward(std::unique_ptr<ClipImageEmbedder> embedder, AestheticHead head,
                                 torch::Device device)
    : embedder_(std::move(embedder)), head_(std::move(head)), device_(device) {}

absl::StatusOr<std::unique_ptr<AestheticReward>> AestheticReward::Load(const std::string& folder,
                                                                       torch::Device device) {
  const std::string head_path = (std::filesystem::path(folder) / kAestheticHeadFile).string();
  std::error_code ec;
  if (!std::filesystem::exists(head_path, ec)) {
    return absl::NotFoundError(absl::StrCat(folder, ": expected the aesthetic head's weights ", kAestheticHeadFile,
                                            " next to a CLIP ViT-L/14 folder; no such file"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ClipImageEmbedder> embedder, ClipImageEmbedder::Load(folder, device));
  // The published predictor preprocesses with OpenAI clip's transform (torchvision's CenterCrop).
  embedder->preprocess().crop_rounding = imaging::CenterCropRounding::kRoundHalfEven;
  ASSIGN_OR_RETURN(AestheticHead head,
                   LoadAestheticHead(head_path, torch::TensorOptions().dtype(torch::kFloat).device(device)));
  head->eval();
  const int64_t in = head->named_parameters()["layers.0.weight"].size(1);
  if (in != embedder->dim()) {
    return absl::InvalidArgumentError(absl::StrCat(folder, ": the aesthetic head takes ", in,
                                                   "-wide embeddings, the CLIP folder's projection gives ",
                                                   embedder->dim()));
  }
  return std::unique_ptr<AestheticReward>(new AestheticReward(std::move(embedder), std::move(head), device));
}

std::vector<double> AestheticReward::ScoreEmbeddings(const torch::Tensor& normalized_embeds) {
  torch::NoGradGuard no_grad;
  torch::Tensor scores = head_->forward(normalized_embeds.to(device_, torch::kFloat)).reshape({-1});
  scores = scores.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel());
}

absl::StatusOr<std::vector<double>> AestheticReward::Score(const std::vector<imaging::RgbImage>& images,
                                                           const std::vector<std::string>& prompts) {
  if (images.size() != prompts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(images.size(), " images but ", prompts.size(), " prompts: one prompt per image"));
  }
  ASSIGN_OR_RETURN(torch::Tensor embeds, embedder_->Embed(images));
  return ScoreEmbeddings(embeds);
}

}  // namespace align::reward
