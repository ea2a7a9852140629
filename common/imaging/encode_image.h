#pragma once
// 8-bit RGB images to PNG (libpng) or JPEG (libjpeg-turbo) files in memory:
// generated samples, charts. Free of LibTorch.

#include <string>

#include "absl/status/statusor.h"
#include "common/imaging/rgb_image.h"

namespace align::imaging {

// The PNG file's bytes (8-bit RGB, not interlaced); an error (never a crash)
// for an empty or inconsistent image, or if libpng refuses it.
absl::StatusOr<std::string> EncodePng(const RgbImage& image);

// The JPEG file's bytes: baseline, 4:2:0 chroma subsampling (libjpeg's
// defaults, as PIL's), `quality` 1..100 on libjpeg's scale (PIL's default is 75).
absl::StatusOr<std::string> EncodeJpeg(const RgbImage& image, int quality = 90);

}  // namespace align::imaging
