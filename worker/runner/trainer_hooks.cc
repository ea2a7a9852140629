#include "worker/runner/trainer_hooks.h"

#include <cstdint>
#include <string>

#include "common/step_metrics.h"
#include "worker/engine/training_checkpoint.h"

namespace align::runner {

TrainProgress ProgressAtStart(const std::string& output, int64_t start_step) {
  TrainProgress progress;
  progress.steps_done = start_step;
  if (start_step > 0) progress.last_checkpoint = engine::TrainingCheckpoint::Dir(output, start_step);
  return progress;
}

engine::TrainerHooks ReportingHooks(control::JobReporter& reporter, TrainProgress& progress) {
  engine::TrainerHooks hooks;
  hooks.on_step = [&reporter, &progress](const engine::StepMetrics& m) {
    progress.steps_done = m.step;
    progress.trained = true;
    reporter.Step({m.step, StepMetricValues(m), m.gpu_memory_bytes});
  };
  hooks.on_eval = [&reporter](const engine::EvalMetrics& e) {
    reporter.Eval({e.step, EvalMetricValues(e)});
  };
  // The figures travel as evaluation values too, under their own names.
  hooks.on_evaluation = [&reporter](const engine::TrainEvaluation& e) {
    reporter.Eval({e.step, TrainEvaluationValues(e)});
  };
  hooks.on_checkpoint = [&reporter, &progress](int64_t step, const std::string& dir) {
    progress.last_checkpoint = dir;
    reporter.Checkpoint(step, dir);
  };
  hooks.should_stop = [&reporter] { return reporter.ShouldStop(); };
  return hooks;
}

}  // namespace align::runner
