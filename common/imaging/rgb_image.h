#pragma once
// An 8-bit RGB image, row-major, 3 bytes per pixel (what PIL's
// `Image.convert("RGB")` holds): the currency between the decoders and the
// geometric transforms. Free of LibTorch.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace align::imaging {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3) {}
  uint8_t* Row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* Row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

}  // namespace align::imaging
