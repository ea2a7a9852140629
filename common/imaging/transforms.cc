#include "common/imaging/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace align::imaging {

Size ShorterSideSize(int width, int height, int shorter) {
  const bool wide = width > height;  // torchvision: (short, long) = (w, h) if w <= h else (h, w)
  const int64_t short_side = wide ? height : width;
  const int64_t long_side = wide ? width : height;
  // Python: int(requested * long / short), true division of exact integers.
  const int new_long = static_cast<int>(static_cast<double>(int64_t{shorter} * long_side) / short_side);
  return wide ? Size{new_long, shorter} : Size{shorter, new_long};
}

RgbImage ResizeShorterSide(const RgbImage& image, int shorter, ResampleFilter filter) {
  const Size size = ShorterSideSize(image.width, image.height, shorter);
  return Resize(image, size.width, size.height, filter);
}

int CenterCropOffset(int size, int crop) {
  if (crop >= size) return 0;
  // std::nearbyint rounds half to even in the default rounding mode, as Python's round().
  return static_cast<int>(std::nearbyint((size - crop) / 2.0));
}

RgbImage Crop(const RgbImage& image, int top, int left, int height, int width) {
  RgbImage out(width, height);
  for (int y = 0; y < height; ++y) {
    const uint8_t* src = image.Row(top + y) + static_cast<size_t>(left) * 3;
    std::copy(src, src + static_cast<size_t>(width) * 3, out.Row(y));
  }
  return out;
}

RgbImage FlipHorizontal(const RgbImage& image) {
  RgbImage out(image.width, image.height);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* src = image.Row(y);
    uint8_t* dst = out.Row(y);
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = src + static_cast<size_t>(image.width - 1 - x) * 3;
      dst[x * 3 + 0] = p[0];
      dst[x * 3 + 1] = p[1];
      dst[x * 3 + 2] = p[2];
    }
  }
  return out;
}

void AppendNormalizedChw(const RgbImage& image, std::vector<float>& out) {
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  const size_t base = out.size();
  out.resize(base + 3 * plane);
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) {
      const float v = static_cast<float>(image.pixels[i * 3 + c]) / 255.0f;
      out[base + c * plane + i] = (v - 0.5f) / 0.5f;
    }
  }
}

std::vector<float> ToNormalizedChw(const RgbImage& image) {
  std::vector<float> out;
  AppendNormalizedChw(image, out);
  return out;
}

}  // namespace align::imaging
