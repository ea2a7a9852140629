#pragma once
// L2-normalised CLIP image embeddings of decoded images: the input of the
// aesthetic head, and what an evaluation measures diversity with (pairwise
// cosine). Reads a CLIPModel folder (its text half is not loaded) or a
// CLIPVisionModelWithProjection folder, plus its preprocessor_config.json.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/imaging/clip_preprocess.h"
#include "common/imaging/rgb_image.h"
#include "worker/models/clip_vision_model.h"

namespace align::reward {

class ClipImageEmbedder {
 public:
  static absl::StatusOr<std::unique_ptr<ClipImageEmbedder>> Load(const std::string& folder, torch::Device device);

  // [N, projection_dim] float32 on the CPU, each row of norm 1.
  absl::StatusOr<torch::Tensor> Embed(const std::vector<imaging::RgbImage>& images);
  // The same from preprocessed pixel_values [N, 3, S, S].
  torch::Tensor EmbedPixels(const torch::Tensor& pixel_values);

  int64_t dim() const;
  // The preprocessing in use (callers may change the crop rounding).
  imaging::ClipImageProcessorConfig& preprocess() { return preprocess_; }

 private:
  ClipImageEmbedder(models::ClipVisionModel tower, imaging::ClipImageProcessorConfig preprocess, torch::Device device);

  models::ClipVisionModel tower_;
  imaging::ClipImageProcessorConfig preprocess_;
  torch::Device device_;
};

}  // namespace align::reward
