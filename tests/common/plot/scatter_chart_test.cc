// Scatter charts: each point a square of its colour where its values map,
// its label beside it inside the plot, one frame per panel on a shared x axis, and the line
// chart's refusals.

#include "common/plot/scatter_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/plot/bitmap_font.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::plot {
namespace {

int CountColor(const imaging::RgbImage& image, Color color, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = std::max(y0, 0); y <= std::min(y1, image.height - 1); ++y) {
    for (int x = std::max(x0, 0); x <= std::min(x1, image.width - 1); ++x) {
      const uint8_t* p = image.Row(y) + 3 * x;
      n += Color{p[0], p[1], p[2]} == color;
    }
  }
  return n;
}

TEST(ScatterChartTest, PointsAreSquaresWhereTheirValuesMap) {
  const std::vector<ScatterPanel> panels = {
      {"pickscore", "diversity", {{"base", SeriesColor(0), 0.10, 21.0}, {"dpo", SeriesColor(1), 0.30, 22.5}}},
      {"aesthetic", "diversity", {{"base", SeriesColor(0), 0.10, 5.0}, {"dpo", SeriesColor(1), 0.30, 4.0}}},
  };
  ChartStyle style;
  style.width = 800;
  style.height = 700;
  absl::StatusOr<Chart> chart = RenderScatterChart(panels, style);
  ASSERT_TRUE(chart.ok()) << chart.status();
  EXPECT_EQ(chart->image.width, 800);
  EXPECT_EQ(chart->image.height, 700);
  ASSERT_EQ(chart->frames.size(), 2u);
  EXPECT_LT(chart->frames[0].bottom, chart->frames[1].top);
  const int r = ScatterMarkerRadius(style);
  for (size_t i = 0; i < panels.size(); ++i) {
    const PanelFrame& frame = chart->frames[i];
    for (const ScatterPoint& point : panels[i].points) {
      const int x = frame.XToPixel(point.x), y = frame.YToPixel(point.y);
      EXPECT_GE(x, frame.left);
      EXPECT_LE(x, frame.right);
      // The whole square is the point's colour.
      EXPECT_EQ(CountColor(chart->image, point.color, x - r, y - r, x + r, y + r), (2 * r + 1) * (2 * r + 1))
          << panels[i].title << " " << point.label;
      // Its label: ink inside the plot area just above or below it (the frame
      // is ink too, so its lines are left out).
      const int h = TextHeight(style.text_scale);
      EXPECT_GT(CountColor(chart->image, kInk, std::max(x - 60, frame.left + 1), std::max(y - r - h - 2, frame.top + 1),
                           std::min(x + 80, frame.right - 1), std::min(y + r + h + 2, frame.bottom - 1)),
                5)
          << panels[i].title << " " << point.label;
    }
  }
  // In the first panel dpo is up and to the right of base.
  const PanelFrame& f = chart->frames[0];
  EXPECT_GT(f.XToPixel(0.30), f.XToPixel(0.10));
  EXPECT_LT(f.YToPixel(22.5), f.YToPixel(21.0));
  // Nothing of dpo's colour in the empty bottom-left corner of the first plot.
  EXPECT_EQ(CountColor(chart->image, SeriesColor(1), f.left + 1, (f.top + f.bottom) / 2, (f.left + f.right) / 2 - 20,
                       f.bottom - 1),
            0);
}

TEST(ScatterChartTest, RefusesWhatALineChartRefuses) {
  EXPECT_FALSE(RenderScatterChart({}).ok());
  EXPECT_FALSE(RenderScatterChart({{"t", "x", {{"a", SeriesColor(0), NAN, 1}}}}).ok());
  ChartStyle tiny;
  tiny.width = 120;
  tiny.height = 120;
  EXPECT_FALSE(RenderScatterChart({{"t", "x", {{"a long label", SeriesColor(0), 0, 1}}}}, tiny).ok());
}

}  // namespace
}  // namespace align::plot
