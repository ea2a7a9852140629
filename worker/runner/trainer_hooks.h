#pragma once
// The trainer's hooks for a job served for a coordinator: steps, evaluations
// and checkpoints go to the job's control::JobReporter under the metric
// names of common/step_metrics.h, and the trainer polls the reporter for a stop.

#include <cstdint>
#include <string>

#include "worker/control/job_session.h"
#include "worker/engine/trainer.h"

namespace align::runner {

// What the job did in this attempt, as its hooks saw it.
struct TrainProgress {
  int64_t steps_done = 0;
  bool trained = false;  // a step ran in this attempt (its report went out)
  std::string last_checkpoint;
};

// `reporter` and `progress` outlive the trainer that calls the hooks.
engine::TrainerHooks ReportingHooks(control::JobReporter& reporter, TrainProgress& progress);

}  // namespace align::runner
