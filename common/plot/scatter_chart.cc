#include "common/plot/scatter_chart.h"

#include <cstdint>
#include <optional>
#include <utility>

#include "common/plot/bitmap_font.h"

namespace align::plot {

absl::StatusOr<Chart> RenderScatterChart(const std::vector<ScatterPanel>& panels, const ChartStyle& style) {
  // The frame, axes and legend are a line chart's whose series are single
  // points; the points are then drawn larger and labelled.
  std::vector<Panel> line_panels;
  for (const ScatterPanel& panel : panels) {
    Panel line{panel.title, panel.x_label, {}, std::nullopt};
    for (const ScatterPoint& point : panel.points) {
      line.series.push_back({point.label, point.color, {{point.x, point.y}}, /*dashed=*/false, /*markers=*/true});
    }
    line_panels.push_back(std::move(line));
  }
  absl::StatusOr<Chart> chart = RenderLineChart(line_panels, style);
  if (!chart.ok()) return chart.status();
  Canvas canvas(chart->image.width, chart->image.height, kBackground);
  for (int y = 0; y < canvas.height(); ++y) {
    const uint8_t* row = chart->image.Row(y);
    for (int x = 0; x < canvas.width(); ++x) canvas.Set(x, y, {row[3 * x], row[3 * x + 1], row[3 * x + 2]});
  }
  const int r = ScatterMarkerRadius(style);
  for (size_t i = 0; i < panels.size(); ++i) {
    const PanelFrame& frame = chart->frames[i];
    for (const ScatterPoint& point : panels[i].points) {
      const int x = frame.XToPixel(point.x), y = frame.YToPixel(point.y);
      canvas.FillRect(x - r, y - r, x + r, y + r, point.color);
      // Right of the point, or left of it where the label would leave the plot.
      const int width = TextWidth(point.label, style.text_scale);
      const int label_x = x + r + 4 + width <= frame.right ? x + r + 4 : x - r - 4 - width;
      // Above the point, or below it where the label would leave the plot.
      const int height = TextHeight(style.text_scale);
      const int label_y = y - r - height >= frame.top ? y - r - height : y + r + 2;
      DrawText(canvas, label_x, label_y, point.label, kInk, style.text_scale);
    }
  }
  chart->image = std::move(canvas).Release();
  return chart;
}

}  // namespace align::plot
