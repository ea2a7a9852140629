#pragma once
// Turns a preference pair's two decoded images into what the VAE encodes and
// the SDXL micro-conditioning, exactly as the reference SDXL training scripts
// do (diffusers train_text_to_image_sdxl.py; Diffusion-DPO's train.py --sdxl):
//
//   1. image_1 is resized to image_0's size (PIL bicubic) when they differ, as
//      Diffusion-DPO does, so one crop and one time_ids fit both;
//   2. swap when label_0 = 0, so `w` is always the preferred image;
//   3. Resize(resolution, BILINEAR): the shorter side to `resolution`;
//   4. with random_flip, flip both images horizontally with probability 1/2
//      (with flip_images each, each image on its own);
//   5. center crop (offset int(round((side - res) / 2))) or a seeded random crop,
//      taken after the flip as in the reference (with crop_variants K > 1,
//      K random crops of the pair, for datasets that draw one per step);
//   6. ToTensor + Normalize(0.5, 0.5): [-1, 1], CHW;
//   time_ids = (orig_h, orig_w, crop_top, crop_left, res, res), orig = image_0's
//   size as decoded; or, with constant_time_ids, (res, res, 0, 0, res, res) as
//   Diffusion-DPO's SDXL training feeds every image.
// The flip and random crop draw from (seed, pair id), so they do not depend on
// which rank prepares the pair or in what order.

#include <array>
#include <cstdint>
#include <vector>

#include "common/dataset/flip_images.h"
#include "common/imaging/rgb_image.h"

namespace align::prepare {

struct ConditioningOptions {
  int resolution = 1024;
  bool center_crop = true;
  bool random_flip = false;
  // time_ids = (res, res, 0, 0, res, res) whatever the image and crop.
  bool constant_time_ids = false;
  // Also the pixels of both images flipped (then cropped at the same offsets),
  // for datasets that draw the flip per training step.
  bool flipped_variant = false;
  // Whether random_flip draws one flip for both images or one for each.
  data::FlipImages flip_images = data::FlipImages::kTogether;
  // Random crops per pair (center_crop false): crop 0 is the pair's crop as
  // with 1; crops 1 .. K-1 come after it from the same draws.
  int crop_variants = 1;
  uint64_t seed = 0;
};

// The pair's pixels at one crop.
struct CroppedPair {
  std::vector<float> pixels_w;  // [3, res, res] in [-1, 1]
  std::vector<float> pixels_l;
  std::vector<float> pixels_w_flipped, pixels_l_flipped;  // with flipped_variant
  std::array<float, 6> time_ids{};
  int crop_top = 0, crop_left = 0;
};

struct ConditionedPair {
  // Crop 0.
  std::vector<float> pixels_w;  // [3, res, res] in [-1, 1]
  std::vector<float> pixels_l;
  std::vector<float> pixels_w_flipped, pixels_l_flipped;  // with flipped_variant
  std::array<float, 6> time_ids{};
  bool flipped = false;    // image w was flipped (with flip_images together, both were)
  bool flipped_l = false;  // image l was flipped
  int crop_top = 0, crop_left = 0;
  std::vector<CroppedPair> more_crops;  // crops 1 .. crop_variants - 1
};

ConditionedPair ConditionPair(const imaging::RgbImage& image_0, const imaging::RgbImage& image_1, bool swap,
                              int64_t pair_id, const ConditioningOptions& options);

}  // namespace align::prepare
