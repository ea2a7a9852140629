#include "common/prepare/pair_conditioning.h"

#include "common/imaging/resample.h"
#include "common/imaging/transforms.h"
#include "common/random.h"

namespace align::prepare {
namespace {

constexpr uint64_t kAugmentStream = 0x61756720;  // "aug ": flips and crops

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
  // Draw the flip first and always, so the crop does not depend on random_flip.
  const bool flip = (rng.Next() >> 63) != 0;
  if (options.random_flip && flip) {
    w = FlipHorizontal(w);
    l = FlipHorizontal(l);
    out.flipped = true;
  }
  if (options.center_crop) {
    out.crop_top = CenterCropOffset(w.height, res);
    out.crop_left = CenterCropOffset(w.width, res);
  } else {  // torchvision RandomCrop.get_params: uniform over all valid offsets
    out.crop_top = static_cast<int>(rng.Below(static_cast<uint64_t>(w.height - res + 1)));
    out.crop_left = static_cast<int>(rng.Below(static_cast<uint64_t>(w.width - res + 1)));
  }
  if (options.flipped_variant) {
    // The flip happens before the crop, as in the frozen-flip path above.
    out.pixels_w_flipped = ToNormalizedChw(Crop(FlipHorizontal(w), out.crop_top, out.crop_left, res, res));
    out.pixels_l_flipped = ToNormalizedChw(Crop(FlipHorizontal(l), out.crop_top, out.crop_left, res, res));
  }
  w = Crop(w, out.crop_top, out.crop_left, res, res);
  l = Crop(l, out.crop_top, out.crop_left, res, res);
  out.pixels_w = ToNormalizedChw(w);
  out.pixels_l = ToNormalizedChw(l);
  const float r = static_cast<float>(res);
  if (options.constant_time_ids) {
    out.time_ids = {r, r, 0.0f, 0.0f, r, r};
  } else {
    out.time_ids = {static_cast<float>(image_0.height), static_cast<float>(image_0.width),
                    static_cast<float>(out.crop_top),   static_cast<float>(out.crop_left),
                    r,                                  r};
  }
  return out;
}

}  // namespace align::prepare
