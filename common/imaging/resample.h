#pragma once
// Pillow's `Image.resize` for 8-bit RGB, reproduced operation for operation
// (libImaging/Resample.c): a separable convolution whose filter support is
// scaled by the reduction factor (antialiasing when shrinking), coefficients
// normalised per output pixel and quantised to 22-bit fixed point, the
// horizontal pass first, each pass rounding and clipping to uint8. The
// reference training scripts resize PIL images with torchvision's
// `Resize(..., BILINEAR)`, which calls exactly this; matching it bit for bit
// keeps prepared latents identical to what the reference would have encoded.

#include "common/imaging/rgb_image.h"

namespace align::imaging {

enum class ResampleFilter {
  kBilinear,  // triangle, support 1 (PIL BILINEAR, torchvision InterpolationMode.BILINEAR)
  kBicubic,   // Keys cubic a = -0.5, support 2 (PIL BICUBIC, the default of Image.resize)
};

// `width`, `height` >= 1. The same size returns a copy (as PIL does).
RgbImage Resize(const RgbImage& image, int width, int height, ResampleFilter filter);

}  // namespace align::imaging
