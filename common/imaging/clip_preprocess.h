#pragma once
// CLIP's image preprocessing as the reward models were trained with it:
// transformers 4's CLIPImageProcessor (PickScore, CLIP score, the aesthetic
// head's CLIP) and open_clip's val transform (HPSv2), both of which resize a
// uint8 PIL image with Pillow: shortest edge -> `shortest_edge` (the long
// side truncated, as torchvision and transformers compute it), Pillow's
// BICUBIC (resample.h, bit-exact), center crop, rescale by 1/255, normalise
// with the CLIP mean/std, float CHW. transformers 5's torchvision path
// (antialiased bicubic on floats) differs by up to one 8-bit level; matching
// Pillow keeps the scores the published models report.
//
// preprocessor_config.json is read key by key: every option is used, checked
// against what this implementation supports, or ignored as bookkeeping; any
// other key is an error naming it. Free of LibTorch.

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/imaging/resample.h"
#include "common/imaging/rgb_image.h"

namespace align::imaging {

// Where an odd leftover of a center crop goes.
enum class CenterCropRounding {
  kFloor,          // transformers' center_crop: (size - crop) // 2
  kRoundHalfEven,  // torchvision's CenterCrop (open_clip): int(round((size - crop) / 2))
};

struct ClipImageProcessorConfig {
  bool do_resize = true;
  // Resize so that the shorter side is `shortest_edge` (size {"shortest_edge"},
  // or a bare int in old feature-extractor configs), or, when > 0, to exactly
  // `resize_height` x `resize_width` (size {"height", "width"}).
  int shortest_edge = 224;
  int resize_height = 0;
  int resize_width = 0;
  ResampleFilter resample = ResampleFilter::kBicubic;  // PIL enum 3 (2 = bilinear)
  bool do_center_crop = true;
  int crop_height = 224;
  int crop_width = 224;
  CenterCropRounding crop_rounding = CenterCropRounding::kFloor;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP's
  std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};
};

absl::StatusOr<ClipImageProcessorConfig> ParseClipImageProcessorConfig(
    const std::string& json_text, const std::string& what = "preprocessor_config.json");
absl::StatusOr<ClipImageProcessorConfig> LoadClipImageProcessorConfig(const std::string& path);

struct ClipPixels {
  int height = 0;
  int width = 0;
  std::vector<float> chw;  // [3, height, width]
};

// Resize, crop, rescale, normalise one RGB image. Errors: a crop larger than
// the (resized) image (transformers would pad it with zeros; no CLIP model's
// preprocessing does that).
absl::StatusOr<ClipPixels> PreprocessClipImage(const RgbImage& image, const ClipImageProcessorConfig& config);

}  // namespace align::imaging
