#include "worker/reward/clip_inputs.h"

#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"

namespace align::reward {

absl::StatusOr<imaging::ClipImageProcessorConfig> LoadPreprocessorConfig(const std::string& folder) {
  const std::string path = (std::filesystem::path(folder) / "preprocessor_config.json").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(folder, ": no preprocessor_config.json (the CLIPImageProcessor "
                                                    "settings the reward model was trained with)"));
  }
  return imaging::LoadClipImageProcessorConfig(path);
}

absl::StatusOr<models::ClipTokenizer> LoadRewardTokenizer(const std::string& folder) {
  const std::filesystem::path sub = std::filesystem::path(folder) / "tokenizer";
  std::error_code ec;
  const std::string dir = std::filesystem::exists(diffusers::VocabPath(sub.string()), ec) ? sub.string() : folder;
  if (!std::filesystem::exists(diffusers::VocabPath(dir), ec) ||
      !std::filesystem::exists(diffusers::MergesPath(dir), ec)) {
    return absl::NotFoundError(
        absl::StrCat(folder, ": no tokenizer (vocab.json and merges.txt in tokenizer/ or at the top level)"));
  }
  return models::ClipTokenizer::Load(dir);
}

absl::StatusOr<torch::Tensor> ClipPixelValues(const std::vector<imaging::RgbImage>& images,
                                              const imaging::ClipImageProcessorConfig& config,
                                              torch::Device device) {
  std::vector<torch::Tensor> rows;
  rows.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    absl::StatusOr<imaging::ClipPixels> pixels = imaging::PreprocessClipImage(images[i], config);
    if (!pixels.ok()) {
      return absl::Status(pixels.status().code(), absl::StrCat("image ", i, ": ", pixels.status().message()));
    }
    torch::Tensor t = torch::empty({3, pixels->height, pixels->width}, torch::kFloat);
    std::memcpy(t.data_ptr<float>(), pixels->chw.data(), pixels->chw.size() * sizeof(float));
    rows.push_back(t);
  }
  return torch::stack(rows).to(device);
}

torch::Tensor ClipInputIds(const models::ClipTokenizer& tokenizer, const std::vector<std::string>& prompts,
                           int max_length, torch::Device device) {
  torch::Tensor ids = torch::empty({static_cast<int64_t>(prompts.size()), max_length}, torch::kLong);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<int64_t> row = tokenizer.Encode(prompts[i], max_length);
    std::memcpy(ids[static_cast<int64_t>(i)].data_ptr<int64_t>(), row.data(), row.size() * sizeof(int64_t));
  }
  return ids.to(device);
}

}  // namespace align::reward
