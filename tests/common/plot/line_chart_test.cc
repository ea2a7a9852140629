// The chart pipeline behind `alignctl plot`: the bitmap font, tick choice, the
// chart layout (series drawn where their values map, in their colours, dashed
// where asked, with a legend), the PNG encoder (read back with the project's
// own decoder) and the metrics.jsonl reader's errors.

#include "common/plot/line_chart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/imaging/decode_image.h"
#include "common/plot/bitmap_font.h"
#include "common/plot/canvas.h"
#include "common/plot/metrics_log.h"
#include "common/plot/png_encode.h"
#include "common/plot/ticks.h"
#include "gmock/gmock.h"

namespace align::plot {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Color PixelAt(const imaging::RgbImage& image, int x, int y) {
  const uint8_t* p = image.Row(y) + static_cast<size_t>(x) * 3;
  return {p[0], p[1], p[2]};
}

// Pixels of `color` in the box [x0, x1] x [y0, y1].
int CountColor(const imaging::RgbImage& image, Color color, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = std::max(y0, 0); y <= std::min(y1, image.height - 1); ++y) {
    for (int x = std::max(x0, 0); x <= std::min(x1, image.width - 1); ++x) n += PixelAt(image, x, y) == color;
  }
  return n;
}

bool ColorNear(const imaging::RgbImage& image, Color color, int x, int y, int radius = 1) {
  return CountColor(image, color, x - radius, y - radius, x + radius, y + radius) > 0;
}

TEST(BitmapFontTest, EveryPrintableCharacterIsAWellFormedGlyph) {
  for (char c = ' '; c <= '~'; ++c) {
    const char* const* rows = GlyphRows(c);
    int ink = 0;
    for (int r = 0; r < kGlyphHeight; ++r) {
      ASSERT_EQ(std::strlen(rows[r]), static_cast<size_t>(kGlyphWidth)) << "'" << c << "' row " << r;
      for (int k = 0; k < kGlyphWidth; ++k) {
        ASSERT_TRUE(rows[r][k] == '#' || rows[r][k] == '.') << "'" << c << "'";
        ink += rows[r][k] == '#';
      }
    }
    EXPECT_EQ(ink == 0, c == ' ') << "'" << c << "'";
  }
  // Outside printable ASCII: the question mark.
  EXPECT_EQ(GlyphRows('\n'), GlyphRows('?'));
  EXPECT_EQ(GlyphRows(static_cast<char>(0xC3)), GlyphRows('?'));
}

TEST(BitmapFontTest, GlyphsAreDistinct) {
  for (char a = '!'; a <= '~'; ++a) {
    for (char b = a + 1; b <= '~'; ++b) {
      bool same = true;
      for (int r = 0; r < kGlyphHeight && same; ++r) same = std::strcmp(GlyphRows(a)[r], GlyphRows(b)[r]) == 0;
      EXPECT_FALSE(same) << "'" << a << "' and '" << b << "' look the same";
    }
  }
}

TEST(BitmapFontTest, TextIsDrawnInsideItsBoxAtScale) {
  Canvas canvas(100, 40, kBackground);
  const Color red{200, 0, 0};
  DrawText(canvas, 10, 5, "1.5", red, 2);
  EXPECT_EQ(TextWidth("1.5", 2), (3 * kGlyphAdvance - 1) * 2);
  const imaging::RgbImage& image = canvas.image();
  const int inside = CountColor(image, red, 10, 5, 10 + TextWidth("1.5", 2) - 1, 5 + TextHeight(2) - 1);
  EXPECT_GT(inside, 0);
  EXPECT_EQ(CountColor(image, red, 0, 0, 99, 39), inside);
  // '1' has ink in the middle column of its top row: a 2x2 block at scale 2.
  EXPECT_EQ(PixelAt(image, 10 + 2 * 2, 5), red);
  EXPECT_EQ(PixelAt(image, 10 + 2 * 2 + 1, 6), red);
}

TEST(CanvasTest, DashedLinesLeaveGapsAndClipAtTheEdges) {
  Canvas canvas(60, 10, kBackground);
  const Color blue{0, 0, 255};
  canvas.Line(0, 5, 59, 5, blue, 1, Dash{4, 3});
  int on = 0;
  for (int x = 0; x < 60; ++x) on += canvas.Get(x, 5) == blue;
  EXPECT_EQ(on, 4 * 8 + 4);  // 8 whole periods of 7 and the start of a ninth
  EXPECT_EQ(canvas.Get(0, 5), blue);
  EXPECT_EQ(canvas.Get(4, 5), kBackground);
  canvas.Line(-20, -20, 80, 30, blue, 3);  // partly outside: no crash, clipped
  EXPECT_EQ(canvas.Get(20, 0), blue);
}

TEST(TicksTest, NiceAxesShowTheDataWithPaddingAndTicksInside) {
  const Axis unit = NiceAxis(0, 1, 6);
  EXPECT_DOUBLE_EQ(unit.lo, -kAxisPadding);
  EXPECT_DOUBLE_EQ(unit.hi, 1 + kAxisPadding);
  ASSERT_EQ(unit.ticks.size(), 6u);
  EXPECT_EQ(unit.ticks.front(), 0);
  EXPECT_NEAR(unit.ticks[3], 0.6, 1e-12);
  EXPECT_NEAR(unit.ticks.back(), 1, 1e-12);
  EXPECT_THAT(NiceAxis(0, 1, 5).ticks, ElementsAre(0, 0.25, 0.5, 0.75, 1));

  const Axis steps = NiceAxis(1, 40, 8);
  EXPECT_LT(steps.lo, 1);
  EXPECT_GT(steps.hi, 40);
  EXPECT_THAT(steps.ticks, ElementsAre(0, 10, 20, 30, 40));

  const Axis losses = NiceAxis(0.0123, 0.6931, 6);
  EXPECT_LT(losses.lo, 0.0123);
  EXPECT_GT(losses.hi, 0.6931);
  EXPECT_LE(losses.ticks.size(), 6u);
  EXPECT_GE(losses.ticks.size(), 3u);

  const Axis negative = NiceAxis(-3.2, -0.4, 5);
  EXPECT_LT(negative.lo, -3.2);
  EXPECT_GT(negative.hi, -0.4);
  for (double t : negative.ticks) EXPECT_TRUE(t >= negative.lo && t <= negative.hi) << t;

  // A value just below zero costs a little padding, not a whole tick step.
  const Axis margins = NiceAxis(-0.001, 1300, 7);
  EXPECT_GT(margins.lo, -100);
  EXPECT_EQ(margins.ticks.front(), 0);

  const Axis flat = NiceAxis(0.5, 0.5, 5);  // one value: widened around it
  EXPECT_LT(flat.lo, 0.5);
  EXPECT_GT(flat.hi, 0.5);
  EXPECT_GE(flat.ticks.size(), 2u);
  const Axis zero = NiceAxis(0, 0, 5);
  EXPECT_LT(zero.lo, 0);
  EXPECT_GT(zero.hi, 0);
}

TEST(TicksTest, LabelsUseTheDecimalsTheStepNeeds) {
  EXPECT_EQ(FormatTick(0.25, 0.25), "0.25");
  EXPECT_EQ(FormatTick(0.5, 0.5), "0.5");
  EXPECT_EQ(FormatTick(40, 10), "40");
  EXPECT_EQ(FormatTick(-1.5, 0.5), "-1.5");
  EXPECT_EQ(FormatTick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(FormatTick(2e6, 1e6), "2e+06");
  EXPECT_EQ(FormatTick(5e-5, 5e-5), "5e-05");
}

// Two series with known values on one panel, a dashed third on another.
std::vector<Panel> KnownPanels() {
  Panel top{"rising", "step", {}, std::nullopt};
  Series rising{"rising", SeriesColor(0), {}};
  Series falling{"falling", SeriesColor(1), {}};
  for (int i = 0; i <= 20; ++i) {
    rising.points.push_back({static_cast<double>(i), i / 20.0});
    falling.points.push_back({static_cast<double>(i), 1 - i / 20.0});
  }
  top.series = {rising, falling};
  Panel bottom{"accuracy", "step", {}, std::make_pair(0.0, 1.0)};
  bottom.series.push_back({"held-out", SeriesColor(2), {{0, 0.5}, {10, 0.5}, {20, 0.5}}, true, true});
  return {top, bottom};
}

TEST(LineChartTest, SeriesAreDrawnInTheirColoursWhereTheirValuesMap) {
  ChartStyle style;
  style.width = 640;
  style.height = 520;
  absl::StatusOr<Chart> chart = RenderLineChart(KnownPanels(), style);
  ASSERT_TRUE(chart.ok()) << chart.status();
  ASSERT_EQ(chart->frames.size(), 2u);

  // Through the PNG encoder and back through the project's decoder.
  absl::StatusOr<std::string> png = EncodePng(chart->image);
  ASSERT_TRUE(png.ok()) << png.status();
  absl::StatusOr<imaging::RgbImage> image = imaging::DecodePng(*png, "chart.png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 640);
  EXPECT_EQ(image->height, 520);
  EXPECT_EQ(image->pixels, chart->image.pixels);

  const PanelFrame& top = chart->frames[0];
  EXPECT_LT(top.left, top.right);
  EXPECT_LT(top.top, top.bottom);
  // (Step 10 is where they cross: the series drawn last covers the other.)
  for (int i : {0, 5, 15, 20}) {
    EXPECT_TRUE(ColorNear(*image, SeriesColor(0), top.XToPixel(i), top.YToPixel(i / 20.0))) << i;
    EXPECT_TRUE(ColorNear(*image, SeriesColor(1), top.XToPixel(i), top.YToPixel(1 - i / 20.0))) << i;
  }
  EXPECT_TRUE(ColorNear(*image, SeriesColor(1), top.XToPixel(10), top.YToPixel(0.5)));
  // Rising goes from bottom-left to top-right: none of its colour in the
  // top-left quarter of the plot area.
  const int mid_x = (top.left + top.right) / 2, mid_y = (top.top + top.bottom) / 2;
  EXPECT_EQ(CountColor(*image, SeriesColor(0), top.left + 4, top.top + 4, mid_x - 8, mid_y - 8), 0);
  EXPECT_GT(CountColor(*image, SeriesColor(1), top.left + 4, top.top + 4, mid_x - 8, mid_y - 8), 0);
  // The third series is only on the second panel.
  EXPECT_EQ(CountColor(*image, SeriesColor(2), 0, 0, image->width - 1, top.bottom), 0);

  // The [0, 1] range is kept although the data spans only 0.5; the dashed
  // line at 0.5 has gaps.
  const PanelFrame& bottom = chart->frames[1];
  EXPECT_EQ(bottom.y.ticks.front(), 0);
  EXPECT_EQ(bottom.y.ticks.back(), 1);
  const int y = bottom.YToPixel(0.5);
  int on = 0, off = 0;
  for (int x = bottom.XToPixel(2); x <= bottom.XToPixel(8); ++x) {
    (PixelAt(*image, x, y) == SeriesColor(2) ? on : off) += 1;
  }
  EXPECT_GT(on, 0);
  EXPECT_GT(off, 0);
  // Markers on each evaluation point.
  for (double x : {0.0, 10.0, 20.0}) {
    EXPECT_EQ(CountColor(*image, SeriesColor(2), bottom.XToPixel(x) - 2, y - 2, bottom.XToPixel(x) + 2, y + 2), 25);
  }
}

TEST(LineChartTest, LegendTicksAndTitlesAreDrawn) {
  absl::StatusOr<Chart> chart = RenderLineChart(KnownPanels());
  ASSERT_TRUE(chart.ok()) << chart.status();
  const imaging::RgbImage& image = chart->image;
  const PanelFrame& top = chart->frames[0];
  // The legend sits right of the plot area: a swatch per series in its colour
  // and ink for the labels.
  EXPECT_GT(CountColor(image, SeriesColor(0), top.right + 2, top.top, image.width - 1, top.bottom), 10);
  EXPECT_GT(CountColor(image, SeriesColor(1), top.right + 2, top.top, image.width - 1, top.bottom), 10);
  EXPECT_GT(CountColor(image, kInk, top.right + 2, top.top, image.width - 1, top.bottom), 50);
  // Tick labels left of and below the plot area, the title above it.
  EXPECT_GT(CountColor(image, kInk, 0, top.top, top.left - 6, top.bottom), 50);
  EXPECT_GT(CountColor(image, kInk, top.left, top.bottom + 6, top.right, top.bottom + 40), 50);
  EXPECT_GT(CountColor(image, kInk, top.left, 0, top.right, top.top - 1), 20);
  // Grid lines at the y ticks (those the two lines do not pass near the
  // left edge, where they start at 0 and 1).
  for (double tick : top.y.ticks) {
    if (tick <= 0 || tick >= 1) continue;
    EXPECT_EQ(PixelAt(image, top.left + 3, top.YToPixel(tick)), kGrid) << tick;
  }
}

TEST(LineChartTest, RejectsNonFiniteValuesAndUnusableSizes) {
  std::vector<Panel> panels = KnownPanels();
  panels[0].series[1].points[3].y = std::numeric_limits<double>::quiet_NaN();
  absl::StatusOr<Chart> chart = RenderLineChart(panels);
  ASSERT_FALSE(chart.ok());
  EXPECT_THAT(chart.status().message(), HasSubstr("\"falling\": point 3 is not finite"));

  EXPECT_FALSE(RenderLineChart({}).ok());
  ChartStyle tiny;
  tiny.width = 200;
  tiny.height = 150;
  chart = RenderLineChart(KnownPanels(), tiny);
  ASSERT_FALSE(chart.ok());
  EXPECT_THAT(chart.status().message(), HasSubstr("too small"));
}

TEST(LineChartTest, EmptyAndSinglePointSeriesStillRender) {
  Panel panel{"sparse", "step", {}, std::nullopt};
  panel.series.push_back({"none", SeriesColor(3), {}});
  panel.series.push_back({"one", SeriesColor(4), {{7, 2.5}}});
  absl::StatusOr<Chart> chart = RenderLineChart({panel});
  ASSERT_TRUE(chart.ok()) << chart.status();
  const PanelFrame& frame = chart->frames[0];
  EXPECT_TRUE(ColorNear(chart->image, SeriesColor(4), frame.XToPixel(7), frame.YToPixel(2.5)));
}

TEST(PngEncodeTest, RoundTripsExactly) {
  imaging::RgbImage image(7, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 37);
  absl::StatusOr<std::string> png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  absl::StatusOr<imaging::RgbImage> back = imaging::DecodePng(*png, "x.png");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pixels, image.pixels);
  EXPECT_FALSE(EncodePng(imaging::RgbImage()).ok());
}

class MetricsLogTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& contents) {
    const std::string path = ::testing::TempDir() + "/metrics_log_test_" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl";
    std::ofstream(path) << contents;
    return path;
  }
};

TEST_F(MetricsLogTest, ReadsStepsAndEvaluationsInStepOrder) {
  const std::string path = Write(
      "{\"step\": 0, \"heldout_implicit_accuracy\": 0.5, \"heldout_pairs\": 16}\n"
      "{\"step\": 2, \"loss\": 0.6, \"implicit_accuracy\": 0.75, \"skipped\": false}\r\n"
      "\n"
      "{\"step\": 1, \"loss\": 0.69, \"implicit_accuracy\": null}\n"
      "{\"step\": 2, \"heldout_implicit_accuracy\": 0.9375}");
  absl::StatusOr<MetricsLog> log = ReadMetricsLog(path, {"loss", "implicit_accuracy", "heldout_implicit_accuracy"});
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->lines, 4);
  const std::vector<MetricPoint>& loss = log->fields.at("loss");
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_EQ(loss[0].step, 1);
  EXPECT_DOUBLE_EQ(loss[0].value, 0.69);
  EXPECT_EQ(loss[1].step, 2);
  EXPECT_EQ(log->fields.at("implicit_accuracy").size(), 1u);  // null is left out
  EXPECT_EQ(log->fields.at("heldout_implicit_accuracy").size(), 2u);
}

TEST_F(MetricsLogTest, ErrorsNameTheFileAndLine) {
  struct Case {
    std::string contents;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.4\n", ":2: not valid JSON"},
      {"{\"step\": 1, \"loss\": NaN}\n", ":1: not valid JSON"},
      {"{\"step\": 1}\n\n{\"step\": 3, \"loss\": Infinity}\n", ":3: not valid JSON"},
      {"[1, 2]\n", ":1: not a JSON object"},
      {"{\"loss\": 0.5}\n", ":1: no integer \"step\""},
      {"{\"step\": 1.5, \"loss\": 0.5}\n", ":1: no integer \"step\""},
      {"{\"step\": 1, \"loss\": \"0.5\"}\n", ":1: \"loss\" is string, not a number"},
      {"{\"step\": 1, \"loss\": 1e999}\n", ":1:"},
  };
  for (const Case& c : cases) {
    const std::string path = Write(c.contents);
    absl::StatusOr<MetricsLog> log = ReadMetricsLog(path, {"loss"});
    ASSERT_FALSE(log.ok()) << c.contents;
    EXPECT_THAT(log.status().message(), HasSubstr(path + c.message)) << c.contents;
  }
  absl::StatusOr<MetricsLog> missing = ReadMetricsLog("/nonexistent/metrics.jsonl", {"loss"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/metrics.jsonl"));
}

}  // namespace
}  // namespace align::plot
