#pragma once
// The geometric and value transforms of the reference SDXL training scripts,
// with torchvision's exact size and offset arithmetic:
//   Resize(resolution, BILINEAR)  -> ResizeShorterSide
//   CenterCrop / RandomCrop       -> CenterCropOffset / Crop
//   RandomHorizontalFlip(p=1)     -> FlipHorizontal
//   ToTensor + Normalize(0.5,0.5) -> ToNormalizedChw

#include <vector>

#include "common/imaging/resample.h"
#include "common/imaging/rgb_image.h"

namespace align::imaging {

struct Size {
  int width = 0;
  int height = 0;
  bool operator==(const Size& o) const { return width == o.width && height == o.height; }
};

// torchvision's Resize(int) rule: the shorter side becomes `shorter`, the longer
// int(shorter * long / short) (truncated, so the aspect ratio rounds down).
Size ShorterSideSize(int width, int height, int shorter);
RgbImage ResizeShorterSide(const RgbImage& image, int shorter,
                           ResampleFilter filter = ResampleFilter::kBilinear);

// torchvision's center_crop offset: int(round((size - crop) / 2.0)) with
// Python's round-half-to-even; 0 when the crop is not smaller.
int CenterCropOffset(int size, int crop);

// The `height` x `width` window at (top, left); it must lie inside the image.
RgbImage Crop(const RgbImage& image, int top, int left, int height, int width);

RgbImage FlipHorizontal(const RgbImage& image);

// [3, H, W] floats: (v / 255 - 0.5) / 0.5 in fp32, the same operations as
// ToTensor then Normalize([0.5], [0.5]), so the values are bit-identical.
std::vector<float> ToNormalizedChw(const RgbImage& image);
// Appends the same to `out`.
void AppendNormalizedChw(const RgbImage& image, std::vector<float>& out);

}  // namespace align::imaging
