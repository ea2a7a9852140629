#include "common/step_metrics.h"

#include <map>
#include <string>

namespace align {

std::map<std::string, double> StepMetricValues(const StepMetrics& m) {
  namespace n = metric_names;
  std::map<std::string, double> values = {{n::kLoss, m.loss},
          {n::kImplicitAccuracy, m.implicit_accuracy},
          {n::kRewardMargin, m.reward_margin},
          {n::kLearningRate, m.lr},
          {n::kGradNorm, m.grad_norm},
          {n::kPairsPerSecond, m.pairs_per_s},
          {n::kStepSeconds, m.step_s},
          {n::kPolicyMseWinner, m.policy_mse_w},
          {n::kPolicyMseLoser, m.policy_mse_l},
          {n::kReferenceMseWinner, m.reference_mse_w},
          {n::kReferenceMseLoser, m.reference_mse_l},
          {n::kGpuMemoryBytes, static_cast<double>(m.gpu_memory_bytes)},
          {n::kStage, static_cast<double>(m.stage)},
          {n::kSkipped, m.skipped ? 1.0 : 0.0}};
  if (m.lora_norm) values[n::kLoraNorm] = *m.lora_norm;
  if (m.lora_scale) values[n::kLoraScale] = *m.lora_scale;
  return values;
}

std::map<std::string, double> EvalMetricValues(const EvalMetrics& e) {
  namespace n = metric_names;
  return {{n::kHeldoutImplicitAccuracy, e.heldout_implicit_accuracy},
          {n::kHeldoutLoss, e.heldout_loss},
          {n::kHeldoutPairs, static_cast<double>(e.heldout_pairs)}};
}

std::map<std::string, double> TrainEvaluationValues(const TrainEvaluation& e) {
  namespace n = metric_names;
  std::map<std::string, double> values;
  for (const TrainEvaluation::Reward& reward : e.rewards) {
    values[std::string(n::kTrainEvalRewardPrefix) + reward.name] = reward.mean;
    values[std::string(n::kTrainEvalRewardStdPrefix) + reward.name] = reward.std;
  }
  if (e.diversity) values[n::kTrainEvalDiversity] = *e.diversity;
  return values;
}

}  // namespace align
