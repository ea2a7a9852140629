#pragma once
// Line charts as an RGB image: panels stacked top to bottom, sharing one x
// axis range, each with a title, ticked and labelled axes, a light grid and a
// legend to the right of its plot area. Sizes are in pixels.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/imaging/rgb_image.h"
#include "common/plot/canvas.h"
#include "common/plot/ticks.h"

namespace align::plot {

inline constexpr Color kBackground{255, 255, 255};
inline constexpr Color kInk{40, 40, 40};      // text, ticks and frames
inline constexpr Color kGrid{226, 226, 226};  // grid lines at the ticks

// The i-th colour of a palette of ten that stay apart from each other and from
// the ink, grid and background colours; it repeats after ten.
Color SeriesColor(int index);

struct Point {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string label;
  Color color;
  std::vector<Point> points;  // joined in this order
  bool dashed = false;
  bool markers = false;  // a square at every point, for sparse series such as evaluations
};

struct Panel {
  std::string title;
  std::string x_label;
  std::vector<Series> series;
  // The smallest y range shown (e.g. [0, 1] for accuracies); the axis still
  // grows to take in data outside it. Without it the axis fits the data.
  std::optional<std::pair<double, double>> y_range;
};

struct ChartStyle {
  int width = 1200;
  int height = 1080;
  int text_scale = 2;  // font pixels per glyph cell pixel
  int line_thickness = 2;
};

// A panel's plot area (inclusive pixel bounds) and its axes, so that callers
// and tests can find where a value was drawn.
struct PanelFrame {
  int left = 0, top = 0, right = 0, bottom = 0;
  Axis x, y;
  int XToPixel(double value) const;
  int YToPixel(double value) const;
};

struct Chart {
  imaging::RgbImage image;
  std::vector<PanelFrame> frames;  // one per panel, in order
};

// InvalidArgument for no panels, a non-finite value, or an image too small
// for the panels' text and plot areas.
absl::StatusOr<Chart> RenderLineChart(const std::vector<Panel>& panels, const ChartStyle& style = {});

}  // namespace align::plot
