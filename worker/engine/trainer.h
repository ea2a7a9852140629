#pragma once
// The training loop of one job on one rank: for each optimizer step, the
// micro-batches the plan assigns to this rank go through the policy (and the
// frozen reference), the preference loss and backward; gradients are averaged
// over ranks, checked for NaN/inf, clipped, and applied. Metrics go to
// output/metrics.jsonl (rank 0); checkpoints make the job resumable.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "common/step_metrics.h"
#include "worker/engine/communicator.h"
#include "worker/engine/plan_source.h"

namespace align::engine {

// The step and evaluation numbers (common/step_metrics.h).
using ::align::EvalMetrics;
using ::align::StepMetrics;
using ::align::TrainEvaluation;

struct TrainerHooks {
  std::function<void(const StepMetrics&)> on_step;
  std::function<void(const EvalMetrics&)> on_eval;
  // An evaluation during training (evaluate_every), on every rank.
  std::function<void(const TrainEvaluation&)> on_evaluation;
  std::function<void(int64_t step, const std::string& dir)> on_checkpoint;
  // Polled on every rank before each step (the flag is all-reduced, so all
  // ranks stop at the same step); true: Run() returns Cancelled.
  std::function<bool()> should_stop;
};

// Which job and attempt (the coordinator's fencing epoch) this run is:
// written into every checkpoint's trainer_state.json, and the job's own
// checkpoints are the ones it resumes from (JobSpec::resume). Empty outside a
// coordinator.
struct RunIdentity {
  std::string job_id;
  int attempt = 0;
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  // Resumes from the newest complete checkpoint in spec.output when there is one.
  // Cancelled: a stop was asked for, or another attempt of the job wrote a
  // checkpoint step first (this attempt is not the only one writing output).
  virtual absl::Status Run() = 0;
  virtual int64_t start_step() const = 0;
};

// Validates the spec against the model and dataset, loads both, and returns a
// trainer for this rank. `plan` may be null: then the local planner is used.
absl::StatusOr<std::unique_ptr<Trainer>> CreateTrainer(const JobSpec& spec, Communicator& comm,
                                                       std::unique_ptr<PlanSource> plan, TrainerHooks hooks = {},
                                                       RunIdentity identity = {});

}  // namespace align::engine
