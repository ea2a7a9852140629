#include "coordinator/alignctl/plot.h"

#include <iostream>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/plot/line_chart.h"
#include "common/plot/metrics_log.h"
#include "common/plot/png_encode.h"
#include "common/status_macros.h"
#include "common/step_metrics.h"

namespace align::alignctl {
namespace {

constexpr const char* kLoss = metric_names::kLoss;
constexpr const char* kAccuracy = metric_names::kImplicitAccuracy;
constexpr const char* kMargin = metric_names::kRewardMargin;
constexpr const char* kHeldout = metric_names::kHeldoutImplicitAccuracy;

struct Run {
  std::string name;
  std::string path;
  plot::MetricsLog log;
};

absl::StatusOr<Run> LoadRun(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--series must be NAME=PATH (e.g. dpo=runs/dpo/metrics.jsonl), got \"", spec, "\""));
  }
  Run run{spec.substr(0, eq), spec.substr(eq + 1), {}};
  ASSIGN_OR_RETURN(run.log, plot::ReadMetricsLog(run.path, {kLoss, kAccuracy, kMargin, kHeldout}));
  if (run.log.fields.count(kLoss) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(run.path, ": no step has a loss yet; nothing to plot for ", run.name));
  }
  return run;
}

std::vector<plot::Point> Points(const Run& run, const std::string& field) {
  std::vector<plot::Point> points;
  const auto it = run.log.fields.find(field);
  if (it == run.log.fields.end()) return points;
  for (const plot::MetricPoint& p : it->second) points.push_back({static_cast<double>(p.step), p.value});
  return points;
}

std::vector<plot::Panel> MakePanels(const std::vector<Run>& runs) {
  plot::Panel loss{"loss", "step", {}, std::nullopt};
  plot::Panel accuracy{"implicit accuracy (dashed: held-out)", "step", {}, std::make_pair(0.0, 1.0)};
  plot::Panel margin{"reward margin", "step", {}, std::nullopt};
  for (size_t i = 0; i < runs.size(); ++i) {
    const plot::Color color = plot::SeriesColor(static_cast<int>(i));
    const Run& run = runs[i];
    loss.series.push_back({run.name, color, Points(run, kLoss)});
    accuracy.series.push_back({run.name, color, Points(run, kAccuracy)});
    std::vector<plot::Point> heldout = Points(run, kHeldout);
    if (!heldout.empty()) {
      accuracy.series.push_back({run.name + " held-out", color, std::move(heldout), /*dashed=*/true,
                                 /*markers=*/true});
    }
    margin.series.push_back({run.name, color, Points(run, kMargin)});
  }
  return {std::move(loss), std::move(accuracy), std::move(margin)};
}

// "0.693 -> 0.112 (steps 1..40)": where a quantity started and ended.
std::string Trend(const Run& run, const std::string& field, int decimals) {
  const auto it = run.log.fields.find(field);
  if (it == run.log.fields.end() || it->second.empty()) return "";
  const plot::MetricPoint& first = it->second.front();
  const plot::MetricPoint& last = it->second.back();
  return absl::StrFormat("%.*f -> %.*f (steps %d..%d)", decimals, first.value, decimals, last.value, first.step,
                         last.step);
}

}  // namespace

int RunPlot(const PlotOptions& options, std::ostream& out, std::ostream& err) {
  std::vector<Run> runs;
  for (const std::string& spec : options.series) {
    absl::StatusOr<Run> run = LoadRun(spec);
    if (!run.ok()) {
      err << "alignctl plot: " << run.status().message() << "\n";
      return kExitUsage;
    }
    runs.push_back(*std::move(run));
  }
  plot::ChartStyle style;
  style.width = options.width;
  style.height = options.height;
  absl::StatusOr<plot::Chart> chart = plot::RenderLineChart(MakePanels(runs), style);
  if (!chart.ok()) {
    err << "alignctl plot: " << chart.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::string> png = plot::EncodePng(chart->image);
  absl::Status written = png.ok() ? WriteFileAtomically(options.out, *png) : png.status();
  if (!written.ok()) {
    err << "alignctl plot: cannot write " << options.out << ": " << written.message() << "\n";
    return 1;
  }
  for (const Run& run : runs) {
    out << run.name << ": loss " << Trend(run, kLoss, 4);
    if (const std::string heldout = Trend(run, kHeldout, 3); !heldout.empty()) {
      out << "; held-out implicit accuracy " << heldout;
    }
    out << "\n";
  }
  out << "plot: " << options.out << " (" << chart->image.width << "x" << chart->image.height << ")\n";
  return 0;
}

Subcommand AddPlotCommand(CLI::App& app) {
  auto options = std::make_shared<PlotOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plot", "Plot loss, implicit accuracy and reward margin per step of runs' metrics.jsonl into a PNG");
  cmd->add_option("--series", options->series, "NAME=PATH to a metrics.jsonl; repeat for one line per run")->required();
  cmd->add_option("--out", options->out, "The PNG file to write")->required();
  cmd->add_option("--width", options->width, "Image width in pixels")->capture_default_str();
  cmd->add_option("--height", options->height, "Image height in pixels")->capture_default_str();
  return {cmd, [options] { return RunPlot(*options, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
