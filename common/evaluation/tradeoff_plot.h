#pragma once
// The alignment-diversity trade-off (the f-divergence paper's picture) as a
// chart: one scatter panel per reward, each evaluated checkpoint a point at
// (diversity, mean reward). From one report (an evaluate job's
// reward_vs_diversity.png) every checkpoint has its own colour; from several
// (`alignctl report A B --plot FILE`: jobs trained with other divergences,
// betas or curricula) each report has one colour and its checkpoints are
// labelled "<report>:<checkpoint>", so the jobs compare at a glance.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/evaluation/evaluation_metrics.h"
#include "common/plot/line_chart.h"

namespace align::evaluation {

struct LabelledReport {
  std::string label;  // the report's name on the chart (several reports only)
  EvaluationFigures figures;
};

// Panels for every reward of any report, in order of first appearance; a
// report contributes to the panels of its own rewards. Checkpoints without a
// diversity (one seed) are left out. 900 pixels wide, 360 high per panel.
// InvalidArgument when no reports are given or no checkpoint has a diversity.
absl::StatusOr<plot::Chart> RenderTradeoffPlot(const std::vector<LabelledReport>& reports);

}  // namespace align::evaluation
