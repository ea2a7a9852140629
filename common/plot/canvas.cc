#include "common/plot/canvas.h"

#include <algorithm>
#include <cstdlib>

namespace align::plot {

Canvas::Canvas(int width, int height, Color background) : image_(width, height) {
  FillRect(0, 0, width - 1, height - 1, background);
}

void Canvas::Set(int x, int y, Color color) {
  if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
  uint8_t* p = image_.Row(y) + static_cast<size_t>(x) * 3;
  p[0] = color.r;
  p[1] = color.g;
  p[2] = color.b;
}

Color Canvas::Get(int x, int y) const {
  if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return {};
  const uint8_t* p = image_.Row(y) + static_cast<size_t>(x) * 3;
  return {p[0], p[1], p[2]};
}

void Canvas::FillRect(int x0, int y0, int x1, int y1, Color color) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, image_.width - 1);
  y1 = std::min(y1, image_.height - 1);
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) Set(x, y, color);
  }
}

int Canvas::Line(int x0, int y0, int x1, int y1, Color color, int thickness, Dash dash, int dash_phase) {
  const int before = (thickness - 1) / 2;
  const int after = thickness - 1 - before;
  const int period = dash.on > 0 ? dash.on + dash.off : 0;
  // Bresenham over the whole octant range; the phase counts pixels stepped.
  const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  int x = x0, y = y0;
  while (true) {
    if (period == 0 || dash_phase % period < dash.on) {
      FillRect(x - before, y - before, x + after, y + after, color);
    }
    if (x == x1 && y == y1) break;
    ++dash_phase;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
  return dash_phase;
}

}  // namespace align::plot
