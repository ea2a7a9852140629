#pragma once
// The headline numbers alignctl shows for a job (step/total, loss, accuracy,
// pairs/s, ETA), derived from what the store keeps.

#include <cstdint>
#include <optional>

#include "coordinator/core/job_record.h"

namespace align::coordinator {

struct ProgressView {
  int64_t step = 0;
  int64_t total_steps = 0;
  std::optional<double> loss;
  std::optional<double> implicit_accuracy;
  std::optional<double> pairs_per_s;
  std::optional<double> eta_seconds;  // running jobs with a known pace only
  std::optional<int64_t> stage;
};

// The pace is the workers' `step_s` when reported, else this attempt's steps
// over its wall time (a resumed attempt does not count the steps it skipped).
ProgressView ComputeProgress(const JobRecord& job, int64_t now_ms);

}  // namespace align::coordinator
