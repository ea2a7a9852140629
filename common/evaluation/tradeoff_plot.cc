#include "common/evaluation/tradeoff_plot.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/plot/scatter_chart.h"

namespace align::evaluation {

absl::StatusOr<plot::Chart> RenderTradeoffPlot(const std::vector<LabelledReport>& reports) {
  if (reports.empty()) return absl::InvalidArgumentError("a trade-off plot needs at least one report");
  std::vector<std::string> rewards;
  for (const LabelledReport& report : reports) {
    for (const std::string& reward : report.figures.rewards) {
      if (std::find(rewards.begin(), rewards.end(), reward) == rewards.end()) rewards.push_back(reward);
    }
  }
  const bool several = reports.size() > 1;
  std::vector<plot::ScatterPanel> panels;
  for (const std::string& reward : rewards) {
    plot::ScatterPanel panel{absl::StrCat("mean ", reward, " vs diversity"), "diversity (mean pairwise 1 - cos)", {}};
    for (size_t r = 0; r < reports.size(); ++r) {
      const EvaluationFigures& figures = reports[r].figures;
      const auto column = std::find(figures.rewards.begin(), figures.rewards.end(), reward);
      if (column == figures.rewards.end()) continue;
      const size_t k = static_cast<size_t>(column - figures.rewards.begin());
      for (size_t c = 0; c < figures.checkpoints.size(); ++c) {
        const CheckpointFigures& checkpoint = figures.checkpoints[c];
        if (!checkpoint.diversity.has_value() || k >= checkpoint.rewards.size()) continue;
        panel.points.push_back({several ? absl::StrCat(reports[r].label, ":", checkpoint.name) : checkpoint.name,
                                plot::SeriesColor(static_cast<int>(several ? r : c)), *checkpoint.diversity,
                                checkpoint.rewards[k].mean});
      }
    }
    if (!panel.points.empty()) panels.push_back(std::move(panel));
  }
  if (panels.empty()) {
    return absl::InvalidArgumentError("no checkpoint has a diversity (it needs seeds >= 2): nothing to plot");
  }
  plot::ChartStyle style;
  style.width = 900;
  style.height = 40 + 360 * static_cast<int>(panels.size());
  return plot::RenderScatterChart(panels, style);
}

}  // namespace align::evaluation
