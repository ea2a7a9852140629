#pragma once
// An RGB drawing surface for charts: pixels, rectangles and thick, optionally
// dashed lines, all clipped to the image. No anti-aliasing: every pixel a
// series touches carries the series' exact colour, which keeps charts crisp at
// small sizes and lets tests find a series by its colour.

#include <cstdint>
#include <utility>

#include "common/imaging/rgb_image.h"

namespace align::plot {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Color& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Color& o) const { return !(*this == o); }
};

// On/off lengths in pixels measured along the line; on == 0 draws solid.
struct Dash {
  int on = 0;
  int off = 0;
};

class Canvas {
 public:
  Canvas(int width, int height, Color background);

  int width() const { return image_.width; }
  int height() const { return image_.height; }
  const imaging::RgbImage& image() const { return image_; }
  imaging::RgbImage Release() && { return std::move(image_); }

  // Out-of-bounds pixels are ignored, so callers need not clip.
  void Set(int x, int y, Color color);
  Color Get(int x, int y) const;
  // The rectangle [x0, x1] x [y0, y1], corners included, in either order.
  void FillRect(int x0, int y0, int x1, int y1, Color color);
  // A square brush of side `thickness` centred on each pixel of the segment.
  // `dash_phase` carries the dash pattern across the segments of a polyline:
  // pass the value returned by the previous call (0 to start).
  int Line(int x0, int y0, int x1, int y1, Color color, int thickness = 1, Dash dash = {}, int dash_phase = 0);

 private:
  imaging::RgbImage image_;
};

}  // namespace align::plot
