#include "common/prepare/pair_conditioning.h"

#include <cstdint>
#include <utility>

#include "common/imaging/resample.h"
#include "common/imaging/transforms.h"
#include "common/random.h"

namespace align::prepare {
namespace {

constexpr uint64_t kAugmentStream = 0x61756720;  // "aug ": flips and crops

// w and l (resized, flipped as drawn) cut at (top, left).
CroppedPair Cut(const imaging::RgbImage& w, const imaging::RgbImage& l, const imaging::RgbImage& image_0, int top,
                int left, const ConditioningOptions& options) {
  using namespace imaging;
  const int res = options.resolution;
  CroppedPair out;
  out.crop_top = top;
  out.crop_left = left;
  if (options.flipped_variant) {
    // The flip happens before the crop, as in the frozen-flip path.
    out.pixels_w_flipped = ToNormalizedChw(Crop(FlipHorizontal(w), top, left, res, res));
    out.pixels_l_flipped = ToNormalizedChw(Crop(FlipHorizontal(l), top, left, res, res));
  }
  out.pixels_w = ToNormalizedChw(Crop(w, top, left, res, res));
  out.pixels_l = ToNormalizedChw(Crop(l, top, left, res, res));
  const float r = static_cast<float>(res);
  if (options.constant_time_ids) {
    out.time_ids = {r, r, 0.0f, 0.0f, r, r};
  } else {
    out.time_ids = {static_cast<float>(image_0.height), static_cast<float>(image_0.width), static_cast<float>(top),
                    static_cast<float>(left), r, r};
  }
  return out;
}

}  // namespace

ConditionedPair ConditionPair(const imaging::RgbImage& image_0, const imaging::RgbImage& image_1, bool swap,
                              int64_t pair_id, const ConditioningOptions& options) {
  using namespace imaging;
  const int res = options.resolution;
  const RgbImage second = (image_1.width == image_0.width && image_1.height == image_0.height)
                              ? image_1
                              : Resize(image_1, image_0.width, image_0.height, ResampleFilter::kBicubic);
  const RgbImage& w_src = swap ? second : image_0;
  const RgbImage& l_src = swap ? image_0 : second;

  RgbImage w = ResizeShorterSide(w_src, res);
  RgbImage l = ResizeShorterSide(l_src, res);

  CounterRng rng(DeriveSeed(options.seed, {kAugmentStream, static_cast<uint64_t>(pair_id)}));
  ConditionedPair out;
  // Draw the flip first and always, so the crop does not depend on random_flip
  // or flip_images: bit 63 flips w (with flip_images together, both), bit 62 l.
  const uint64_t flip_bits = rng.Next();
  const bool flip_w = (flip_bits >> 63) != 0;
  const bool flip_l = options.flip_images == data::FlipImages::kEach ? ((flip_bits >> 62) & 1) != 0 : flip_w;
  if (options.random_flip) {
    if (flip_w) w = FlipHorizontal(w);
    if (flip_l) l = FlipHorizontal(l);
    out.flipped = flip_w;
    out.flipped_l = flip_l;
  }
  int top = 0, left = 0;
  const auto draw_crop = [&] {  // torchvision RandomCrop.get_params: uniform over all valid offsets
    top = static_cast<int>(rng.Below(static_cast<uint64_t>(w.height - res + 1)));
    left = static_cast<int>(rng.Below(static_cast<uint64_t>(w.width - res + 1)));
  };
  if (options.center_crop) {
    top = CenterCropOffset(w.height, res);
    left = CenterCropOffset(w.width, res);
  } else {
    draw_crop();
  }
  CroppedPair first = Cut(w, l, image_0, top, left, options);
  out.pixels_w = std::move(first.pixels_w);
  out.pixels_l = std::move(first.pixels_l);
  out.pixels_w_flipped = std::move(first.pixels_w_flipped);
  out.pixels_l_flipped = std::move(first.pixels_l_flipped);
  out.time_ids = first.time_ids;
  out.crop_top = top;
  out.crop_left = left;
  if (!options.center_crop) {
    for (int v = 1; v < options.crop_variants; ++v) {
      draw_crop();
      out.more_crops.push_back(Cut(w, l, image_0, top, left, options));
    }
  }
  return out;
}

}  // namespace align::prepare
