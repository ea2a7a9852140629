#pragma once
// `align-worker verify-preprocess --dir DIR`: runs CLIP preprocessing
// (clip_preprocess.h) on the images of a reference folder laid out like the
// clip-preprocess golden fixture (preprocessor_config.json + io.safetensors
// holding uint8 HxWx3 `image_<i>` and the reference `pixel_values_pil_<i>`)
// and reports the largest absolute difference per image. Free of LibTorch.

#include <ostream>
#include <string>

namespace align::imaging {

// One 8-bit level after CLIP's normalisation (1/255 / min std ~ 0.0150): the
// largest difference a single rounding step of the resize can make.
inline constexpr double kPreprocessTolerance = 0.015;

// Prints one JSON line to `out`; returns 0 when every image is within
// kPreprocessTolerance, 1 when one is not, 2 on bad input.
int RunVerifyPreprocess(const std::string& dir, std::ostream& out, std::ostream& err);

}  // namespace align::imaging
