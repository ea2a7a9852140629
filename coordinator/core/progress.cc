#include "coordinator/core/progress.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/step_metrics.h"

namespace align::coordinator {

namespace {

std::optional<double> Metric(const JobRecord& job, const std::string& name) {
  auto it = job.metrics.find(name);
  if (it == job.metrics.end() || !std::isfinite(it->second)) return std::nullopt;
  return it->second;
}

}  // namespace

ProgressView ComputeProgress(const JobRecord& job, int64_t now_ms) {
  ProgressView view;
  view.step = job.steps_done;
  view.total_steps = job.total_steps;
  view.loss = Metric(job, metric_names::kLoss);
  view.implicit_accuracy = Metric(job, metric_names::kImplicitAccuracy);
  view.pairs_per_s = Metric(job, metric_names::kPairsPerSecond);
  if (std::optional<double> stage = Metric(job, metric_names::kStage)) view.stage = static_cast<int64_t>(*stage);
  if (job.state != JobState::kRunning) return view;

  const int64_t remaining = std::max<int64_t>(0, job.total_steps - job.steps_done);
  std::optional<double> seconds_per_step;
  if (std::optional<double> step_s = Metric(job, metric_names::kStepSeconds); step_s && *step_s > 0) {
    seconds_per_step = *step_s;
  } else if (job.run_started_ms && job.steps_done > job.run_start_step && now_ms > *job.run_started_ms) {
    seconds_per_step = (now_ms - *job.run_started_ms) / 1000.0 / static_cast<double>(job.steps_done - job.run_start_step);
  }
  if (seconds_per_step) view.eta_seconds = remaining * *seconds_per_step;
  return view;
}

}  // namespace align::coordinator
