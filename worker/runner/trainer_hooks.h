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
  // The output's newest checkpoint: the one the attempt resumed from, then
  // each one it wrote. A job resumed at its final checkpoint (an earlier
  // attempt wrote it, and its report or the job's end was lost) completes
  // naming it, so the coordinator records it as the job's final checkpoint.
  std::string last_checkpoint;
};

// The progress of an attempt before its first step, the trainer having
// resumed at `start_step` of `output` (0: from the job's model, no checkpoint).
TrainProgress ProgressAtStart(const std::string& output, int64_t start_step);

// `reporter` and `progress` outlive the trainer that calls the hooks.
engine::TrainerHooks ReportingHooks(control::JobReporter& reporter, TrainProgress& progress);

}  // namespace align::runner
