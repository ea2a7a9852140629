#include "worker/runner/trainer_hooks.h"

namespace align::runner {

std::map<std::string, double> StepValues(const engine::StepMetrics& m) {
  return {{"loss", m.loss},
          {"implicit_accuracy", m.implicit_accuracy},
          {"reward_margin", m.reward_margin},
          {"lr", m.lr},
          {"grad_norm", m.grad_norm},
          {"pairs_per_s", m.pairs_per_s},
          {"step_s", m.step_s},
          {"policy_mse_w", m.policy_mse_w},
          {"policy_mse_l", m.policy_mse_l},
          {"reference_mse_w", m.reference_mse_w},
          {"reference_mse_l", m.reference_mse_l},
          {"gpu_memory_bytes", static_cast<double>(m.gpu_memory_bytes)},
          {"stage", static_cast<double>(m.stage)},
          {"skipped", m.skipped ? 1.0 : 0.0}};
}

engine::TrainerHooks ReportingHooks(control::JobReporter& reporter, TrainProgress& progress) {
  engine::TrainerHooks hooks;
  hooks.on_step = [&reporter, &progress](const engine::StepMetrics& m) {
    progress.steps_done = m.step;
    progress.trained = true;
    reporter.Step({m.step, StepValues(m), m.gpu_memory_bytes});
  };
  hooks.on_eval = [&reporter](const engine::EvalMetrics& e) {
    reporter.Eval({e.step,
                   {{"heldout_implicit_accuracy", e.heldout_implicit_accuracy},
                    {"heldout_loss", e.heldout_loss},
                    {"heldout_pairs", static_cast<double>(e.heldout_pairs)}}});
  };
  hooks.on_checkpoint = [&reporter, &progress](int64_t step, const std::string& dir) {
    progress.last_checkpoint = dir;
    reporter.Checkpoint(step, dir);
  };
  hooks.should_stop = [&reporter] { return reporter.ShouldStop(); };
  return hooks;
}

}  // namespace align::runner
