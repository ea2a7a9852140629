#include "common/plot/line_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/plot/bitmap_font.h"

namespace align::plot {
namespace {

constexpr int kMargin = 16;
constexpr int kTickLength = 5;
constexpr int kSwatchWidth = 28;
constexpr int kMinPlotSide = 40;
constexpr int kMinImageSide = 100;
constexpr int kMaxImageSide = 16384;
// Dash length proportional to the line, so dashes read at any thickness.
constexpr int kDashOn = 5;
constexpr int kDashOff = 4;

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  bool empty() const { return lo > hi; }
  void Add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
};

absl::Status CheckFinite(const std::vector<Panel>& panels) {
  for (const Panel& panel : panels) {
    for (const Series& series : panel.series) {
      for (size_t i = 0; i < series.points.size(); ++i) {
        const Point& p = series.points[i];
        if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
          return absl::InvalidArgumentError(absl::StrCat("panel \"", panel.title, "\", series \"", series.label,
                                                         "\": point ", i, " is not finite (", p.x, ", ", p.y, ")"));
        }
      }
    }
    if (panel.y_range && !(std::isfinite(panel.y_range->first) && std::isfinite(panel.y_range->second) &&
                           panel.y_range->first < panel.y_range->second)) {
      return absl::InvalidArgumentError(absl::StrCat("panel \"", panel.title, "\": y range must be finite, lo < hi"));
    }
  }
  return absl::OkStatus();
}

Axis YAxisFor(const Panel& panel, int max_ticks) {
  Range range;
  for (const Series& series : panel.series) {
    for (const Point& p : series.points) range.Add(p.y);
  }
  if (panel.y_range) {
    const auto [lo, hi] = *panel.y_range;
    if (range.empty() || (range.lo >= lo && range.hi <= hi)) return NiceAxis(lo, hi, max_ticks);
    range.Add(lo);
    range.Add(hi);
  }
  if (range.empty()) return NiceAxis(0, 1, max_ticks);
  return NiceAxis(range.lo, range.hi, max_ticks);
}

void DrawSeries(Canvas& canvas, const PanelFrame& frame, const Series& series, int thickness) {
  const Dash dash = series.dashed ? Dash{kDashOn * thickness, kDashOff * thickness} : Dash{};
  int phase = 0;
  for (size_t i = 1; i < series.points.size(); ++i) {
    const Point& a = series.points[i - 1];
    const Point& b = series.points[i];
    phase = canvas.Line(frame.XToPixel(a.x), frame.YToPixel(a.y), frame.XToPixel(b.x), frame.YToPixel(b.y),
                        series.color, thickness, dash, phase);
  }
  // A lone point has no segment to show it, so it always gets a marker.
  if (series.markers || series.points.size() == 1) {
    const int r = thickness + 1;
    for (const Point& p : series.points) {
      const int x = frame.XToPixel(p.x), y = frame.YToPixel(p.y);
      canvas.FillRect(x - r, y - r, x + r, y + r, series.color);
    }
  }
}

// A short stretch of the series' line (and marker) as it looks in the plot.
void DrawSwatch(Canvas& canvas, int x, int y_mid, const Series& series, int thickness) {
  const Dash dash = series.dashed ? Dash{kDashOn * thickness, kDashOff * thickness} : Dash{};
  canvas.Line(x, y_mid, x + kSwatchWidth - 1, y_mid, series.color, thickness, dash);
  if (series.markers) {
    const int r = thickness + 1, cx = x + kSwatchWidth / 2;
    canvas.FillRect(cx - r, y_mid - r, cx + r, y_mid + r, series.color);
  }
}

}  // namespace

Color SeriesColor(int index) {
  static constexpr Color kPalette[] = {
      {31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
      {140, 86, 75},  {227, 119, 194}, {23, 190, 207}, {188, 189, 34}, {127, 127, 127},
  };
  constexpr int n = sizeof(kPalette) / sizeof(kPalette[0]);
  return kPalette[((index % n) + n) % n];
}

int PanelFrame::XToPixel(double value) const {
  return left + static_cast<int>(std::lround((value - x.lo) / (x.hi - x.lo) * (right - left)));
}

int PanelFrame::YToPixel(double value) const {
  return bottom - static_cast<int>(std::lround((value - y.lo) / (y.hi - y.lo) * (bottom - top)));
}

absl::StatusOr<Chart> RenderLineChart(const std::vector<Panel>& panels, const ChartStyle& style) {
  if (panels.empty()) return absl::InvalidArgumentError("a chart needs at least one panel");
  if (style.width < kMinImageSide || style.height < kMinImageSide || style.width > kMaxImageSide ||
      style.height > kMaxImageSide) {
    return absl::InvalidArgumentError(absl::StrCat("chart size ", style.width, "x", style.height, " is outside [",
                                                   kMinImageSide, ", ", kMaxImageSide, "] per side"));
  }
  if (style.text_scale < 1 || style.line_thickness < 1) {
    return absl::InvalidArgumentError("text_scale and line_thickness must be >= 1");
  }
  if (absl::Status finite = CheckFinite(panels); !finite.ok()) return finite;

  const int s = style.text_scale;
  const int text_h = TextHeight(s);
  const int n = static_cast<int>(panels.size());
  const int slot_h = (style.height - 2 * kMargin) / n;
  // Per slot: title, plot area, x tick labels, x label, gap to the next slot.
  const int title_h = text_h + 10;
  const int below_h = kTickLength + 4 + text_h + 6 + text_h + 24;
  const int plot_h = slot_h - title_h - below_h;
  const int max_y_ticks = std::clamp(plot_h / 40, 2, 8);

  std::vector<Axis> y_axes;
  Range x_range;
  int legend_w = 0;
  for (const Panel& panel : panels) {
    y_axes.push_back(YAxisFor(panel, max_y_ticks));
    for (const Series& series : panel.series) {
      for (const Point& p : series.points) x_range.Add(p.x);
      legend_w = std::max(legend_w, 16 + kSwatchWidth + 8 + TextWidth(series.label, s));
    }
  }
  int y_labels_w = 0;
  for (const Axis& axis : y_axes) {
    for (double tick : axis.ticks) y_labels_w = std::max(y_labels_w, TextWidth(FormatTick(tick, axis.step), s));
  }
  const int plot_left = kMargin + y_labels_w + kTickLength + 4;
  const int plot_right = style.width - 1 - kMargin - legend_w;
  if (plot_h < kMinPlotSide || plot_right - plot_left < kMinPlotSide) {
    return absl::InvalidArgumentError(absl::StrCat("a ", style.width, "x", style.height, " image is too small for ", n,
                                                   " panel", n == 1 ? "" : "s", " with their labels and legends"));
  }
  const int max_x_ticks = std::clamp((plot_right - plot_left) / (TextWidth("00000", s) + 16), 2, 11);
  const Axis x_axis = x_range.empty() ? NiceAxis(0, 1, max_x_ticks) : NiceAxis(x_range.lo, x_range.hi, max_x_ticks);

  Canvas canvas(style.width, style.height, kBackground);
  Chart chart;
  for (int i = 0; i < n; ++i) {
    const Panel& panel = panels[i];
    PanelFrame frame;
    frame.left = plot_left;
    frame.right = plot_right;
    frame.top = kMargin + i * slot_h + title_h;
    frame.bottom = frame.top + plot_h - 1;
    frame.x = x_axis;
    frame.y = y_axes[i];

    DrawText(canvas, (frame.left + frame.right - TextWidth(panel.title, s)) / 2, frame.top - title_h, panel.title, kInk,
             s);
    for (double tick : frame.x.ticks) {
      const int x = frame.XToPixel(tick);
      canvas.FillRect(x, frame.top, x, frame.bottom, kGrid);
      canvas.FillRect(x, frame.bottom, x, frame.bottom + kTickLength, kInk);
      const std::string label = FormatTick(tick, frame.x.step);
      DrawText(canvas, x - TextWidth(label, s) / 2, frame.bottom + kTickLength + 4, label, kInk, s);
    }
    for (double tick : frame.y.ticks) {
      const int y = frame.YToPixel(tick);
      canvas.FillRect(frame.left, y, frame.right, y, kGrid);
      canvas.FillRect(frame.left - kTickLength, y, frame.left, y, kInk);
      const std::string label = FormatTick(tick, frame.y.step);
      DrawText(canvas, frame.left - kTickLength - 4 - TextWidth(label, s), y - CapHeight(s) / 2, label, kInk, s);
    }
    // The frame: left and bottom axes plus the closing top and right edges.
    canvas.Line(frame.left, frame.top, frame.right, frame.top, kInk);
    canvas.Line(frame.left, frame.bottom, frame.right, frame.bottom, kInk);
    canvas.Line(frame.left, frame.top, frame.left, frame.bottom, kInk);
    canvas.Line(frame.right, frame.top, frame.right, frame.bottom, kInk);
    DrawText(canvas, (frame.left + frame.right - TextWidth(panel.x_label, s)) / 2,
             frame.bottom + kTickLength + 4 + text_h + 6, panel.x_label, kInk, s);

    for (const Series& series : panel.series) DrawSeries(canvas, frame, series, style.line_thickness);
    int legend_y = frame.top + 4;
    for (const Series& series : panel.series) {
      const int x = frame.right + 16;
      DrawSwatch(canvas, x, legend_y + CapHeight(s) / 2, series, style.line_thickness);
      DrawText(canvas, x + kSwatchWidth + 8, legend_y, series.label, kInk, s);
      legend_y += text_h + 8;
    }
    chart.frames.push_back(frame);
  }
  chart.image = std::move(canvas).Release();
  return chart;
}

}  // namespace align::plot
