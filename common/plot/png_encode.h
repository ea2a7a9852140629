#pragma once
// 8-bit RGB PNG encoding through libpng, into memory.

#include <string>

#include "absl/status/statusor.h"
#include "common/imaging/rgb_image.h"

namespace align::plot {

// The PNG file's bytes; an error (never a crash) if libpng refuses the image.
absl::StatusOr<std::string> EncodePng(const imaging::RgbImage& image);

}  // namespace align::plot
