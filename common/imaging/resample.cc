#include "common/imaging/resample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace align::imaging {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One output pixel's taps: input positions [first, first + count).
struct Taps {
  int first = 0;
  int count = 0;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size).
struct Coefficients {
  int ksize = 0;
  std::vector<Taps> taps;        // per output pixel
  std::vector<int32_t> weights;  // out_size * ksize, fixed point
};

Coefficients Precompute(int in_size, int out_size, ResampleFilter filter) {
  double (*fn)(double) = filter == ResampleFilter::kBilinear ? BilinearFilter : BicubicFilter;
  const double filter_support = filter == ResampleFilter::kBilinear ? 1.0 : 2.0;
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;

  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.taps.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as the C cast
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = fn((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    int32_t* out = &c.weights[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = k[x] * (1 << kPrecisionBits);
      out[x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + v : 0.5 + v);
    }
    c.taps[xx] = {xmin, xmax};
  }
  return c;
}

inline uint8_t Clip8(int32_t in) {
  if (in >= (1 << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<uint8_t>(in >> kPrecisionBits);
}

RgbImage Horizontal(const RgbImage& in, int out_width, ResampleFilter filter) {
  const Coefficients c = Precompute(in.width, out_width, filter);
  RgbImage out(out_width, in.height);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* src = in.Row(y);
    uint8_t* dst = out.Row(y);
    for (int xx = 0; xx < out_width; ++xx) {
      const Taps t = c.taps[xx];
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < t.count; ++x) {
        const uint8_t* p = src + (t.first + x) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[xx * 3 + 0] = Clip8(s0);
      dst[xx * 3 + 1] = Clip8(s1);
      dst[xx * 3 + 2] = Clip8(s2);
    }
  }
  return out;
}

RgbImage Vertical(const RgbImage& in, int out_height, ResampleFilter filter) {
  const Coefficients c = Precompute(in.height, out_height, filter);
  RgbImage out(in.width, out_height);
  const int row_values = in.width * 3;
  std::vector<int32_t> sums(row_values);
  for (int yy = 0; yy < out_height; ++yy) {
    const Taps t = c.taps[yy];
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
    // Row by row rather than pixel by pixel: the same sums in the same order
    // (integer addition), but sequential memory access.
    for (int y = 0; y < t.count; ++y) {
      const uint8_t* src = in.Row(t.first + y);
      const int32_t w = k[y];
      for (int i = 0; i < row_values; ++i) sums[i] += src[i] * w;
    }
    uint8_t* dst = out.Row(yy);
    for (int i = 0; i < row_values; ++i) dst[i] = Clip8(sums[i]);
  }
  return out;
}

}  // namespace

RgbImage Resize(const RgbImage& image, int width, int height, ResampleFilter filter) {
  if (width == image.width && height == image.height) return image;
  // Pillow: horizontal pass first, each pass only when that side changes.
  if (width != image.width && height != image.height) {
    return Vertical(Horizontal(image, width, filter), height, filter);
  }
  if (width != image.width) return Horizontal(image, width, filter);
  return Vertical(image, height, filter);
}

}  // namespace align::imaging
