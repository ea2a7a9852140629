#pragma once
// JPEG and PNG encoders for tests and test-data tools: the project itself only
// decodes, but its tests need real files made by the real libraries.

#include <cstdint>
#include <string>

#include "common/imaging/rgb_image.h"

namespace align::testing {

// Baseline JPEG (4:2:0) at `quality`; `gray` writes a one-component file.
std::string EncodeJpeg(const imaging::RgbImage& image, int quality = 90, bool gray = false);
// 8-bit RGB PNG; `interlaced` writes Adam7.
std::string EncodePng(const imaging::RgbImage& image, bool interlaced = false);

// A deterministic test picture: smooth gradients plus a seeded pattern, so
// that different seeds give visibly different images.
imaging::RgbImage TestPicture(int width, int height, uint64_t seed);

}  // namespace align::testing
