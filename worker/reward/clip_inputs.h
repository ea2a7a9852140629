#pragma once
// What a CLIP reward folder holds besides the model: preprocessor_config.json
// and the tokenizer (vocab.json + merges.txt in a tokenizer/ subfolder or at
// the top level, as transformers' CLIPProcessor saves them), turned into the
// model's inputs.

#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/imaging/clip_preprocess.h"
#include "common/imaging/rgb_image.h"
#include "worker/models/clip_tokenizer.h"

namespace align::reward {

// Reads `folder/preprocessor_config.json`, naming the file when absent.
absl::StatusOr<imaging::ClipImageProcessorConfig> LoadPreprocessorConfig(const std::string& folder);

// The tokenizer of `folder/tokenizer/` if that holds vocab.json, else of `folder`.
absl::StatusOr<models::ClipTokenizer> LoadRewardTokenizer(const std::string& folder);

// Preprocessed images [N, 3, H, W] float32 on `device`.
absl::StatusOr<torch::Tensor> ClipPixelValues(const std::vector<imaging::RgbImage>& images,
                                              const imaging::ClipImageProcessorConfig& config, torch::Device device);

// Token ids [N, max_length] int64 on `device` (padding="max_length", truncation).
torch::Tensor ClipInputIds(const models::ClipTokenizer& tokenizer, const std::vector<std::string>& prompts,
                           int max_length, torch::Device device);

}  // namespace align::reward
