#pragma once
// Scatter charts as an RGB image: one labelled point per item (an evaluated
// checkpoint), panels stacked top to bottom sharing the x axis, with the
// layout, axes, grid and legend of line_chart.h. Each point is a filled
// square of its colour with its label beside it (above, or below near the
// plot's top; right, or left near its right edge).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/plot/canvas.h"
#include "common/plot/line_chart.h"

namespace align::plot {

struct ScatterPoint {
  std::string label;
  Color color;
  double x = 0;
  double y = 0;
};

struct ScatterPanel {
  std::string title;
  std::string x_label;
  std::vector<ScatterPoint> points;
};

// Half the side of a point's square, in pixels, at a style's line thickness.
inline int ScatterMarkerRadius(const ChartStyle& style) { return 2 * style.line_thickness + 2; }

// InvalidArgument as RenderLineChart's (no panels, a non-finite value, too small).
absl::StatusOr<Chart> RenderScatterChart(const std::vector<ScatterPanel>& panels, const ChartStyle& style = {});

}  // namespace align::plot
