#include "worker/engine/metrics_log.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/step_metrics.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::engine {
namespace {

// JSON has no NaN/inf: a skipped step's non-finite loss is written as null.
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// A line's values but its step, as the workers report them.
std::map<std::string, double> Values(const nlohmann::json& line) {
  std::map<std::string, double> values;
  for (const auto& [name, value] : line.items()) {
    if (name == metric_names::kStep) continue;
    if (value.is_number()) {
      values[name] = value.get<double>();
    } else if (value.is_boolean()) {
      values[name] = value.get<bool>() ? 1.0 : 0.0;
    } else if (value.is_null()) {
      values[name] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  return values;
}

// An evaluation-during-training record's figures under TrainEvaluationValues' names.
std::map<std::string, double> TrainEvaluationRecordValues(const nlohmann::json& record) {
  namespace n = metric_names;
  TrainEvaluation e;
  if (record.contains(n::kEvaluationRewards) && record[n::kEvaluationRewards].is_object()) {
    for (const auto& [name, figures] : record[n::kEvaluationRewards].items()) {
      TrainEvaluation::Reward reward{name};
      const std::map<std::string, double> values = Values(figures);
      if (auto it = values.find(n::kEvaluationRewardMean); it != values.end()) reward.mean = it->second;
      if (auto it = values.find(n::kEvaluationRewardStd); it != values.end()) reward.std = it->second;
      e.rewards.push_back(reward);
    }
  }
  if (record.contains(n::kEvaluationDiversity) && record[n::kEvaluationDiversity].is_number()) {
    e.diversity = record[n::kEvaluationDiversity].get<double>();
  }
  return TrainEvaluationValues(e);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsLog>> MetricsLog::Open(const std::string& path, int64_t keep_through_step) {
  std::unique_ptr<MetricsLog> log(new MetricsLog(path));
  absl::StatusOr<std::string> existing = ReadFileToString(path);
  std::string kept;
  if (existing.ok()) {
    std::istringstream lines(*existing);
    std::string line;
    while (std::getline(lines, line)) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains(metric_names::kStep) || !j[metric_names::kStep].is_number_integer()) continue;
      if (j[metric_names::kStep].get<int64_t>() <= keep_through_step) absl::StrAppend(&kept, line, "\n");
    }
  }
  RETURN_IF_ERROR(WriteFileAtomically(path, kept));
  log->out_.open(path, std::ios::app);
  if (!log->out_) return absl::PermissionDeniedError(absl::StrCat("cannot append to ", path));
  return log;
}

absl::StatusOr<LoggedStep> MetricsLog::ReadStep(const std::string& path, int64_t step) {
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  LoggedStep found;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains(metric_names::kStep) ||
        !j[metric_names::kStep].is_number_integer()) {
      continue;
    }
    if (j[metric_names::kStep].get<int64_t>() != step) continue;
    if (j.contains(metric_names::kEvaluation)) {
      found.evaluation = TrainEvaluationRecordValues(j[metric_names::kEvaluation]);
      continue;
    }
    (j.contains(metric_names::kHeldoutImplicitAccuracy) ? found.eval : found.train) = Values(j);
  }
  if (!found.train && !found.eval && !found.evaluation) {
    return absl::NotFoundError(absl::StrCat(path, " has no line for step ", step));
  }
  return found;
}

absl::Status MetricsLog::Append(const std::string& line) {
  out_ << line << "\n";
  out_.flush();
  if (!out_) return absl::DataLossError(absl::StrCat("cannot write ", path_));
  return absl::OkStatus();
}

absl::Status MetricsLog::WriteStep(const StepMetrics& m) {
  namespace n = metric_names;
  nlohmann::json j = {{n::kStep, m.step},
                      {n::kLoss, Number(m.loss)},
                      {n::kImplicitAccuracy, Number(m.implicit_accuracy)},
                      {n::kRewardMargin, Number(m.reward_margin)},
                      {n::kLearningRate, m.lr},
                      {n::kGradNorm, Number(m.grad_norm)},
                      {n::kPairsPerSecond, m.pairs_per_s},
                      {n::kStepSeconds, m.step_s},
                      {n::kPolicyMseWinner, Number(m.policy_mse_w)},
                      {n::kPolicyMseLoser, Number(m.policy_mse_l)},
                      {n::kReferenceMseWinner, Number(m.reference_mse_w)},
                      {n::kReferenceMseLoser, Number(m.reference_mse_l)},
                      {n::kGpuMemoryBytes, m.gpu_memory_bytes},
                      {n::kStage, m.stage},
                      {n::kSkipped, m.skipped}};
  if (m.lora_norm) j[n::kLoraNorm] = Number(*m.lora_norm);
  if (m.lora_scale) j[n::kLoraScale] = *m.lora_scale;
  return Append(j.dump());
}

absl::Status MetricsLog::WriteEval(const EvalMetrics& e) {
  namespace n = metric_names;
  nlohmann::json j = {{n::kStep, e.step},
                      {n::kHeldoutImplicitAccuracy, e.heldout_implicit_accuracy},
                      {n::kHeldoutLoss, Number(e.heldout_loss)},
                      {n::kHeldoutPairs, e.heldout_pairs}};
  return Append(j.dump());
}

absl::Status MetricsLog::WriteTrainEvaluation(const TrainEvaluation& e) {
  namespace n = metric_names;
  nlohmann::json rewards = nlohmann::json::object();
  for (const TrainEvaluation::Reward& reward : e.rewards) {
    rewards[reward.name] = {{n::kEvaluationRewardMean, Number(reward.mean)}, {n::kEvaluationRewardStd, Number(reward.std)}};
  }
  const nlohmann::json evaluation = {{n::kEvaluationPrompts, e.prompts},
                                     {n::kEvaluationSeeds, e.seeds},
                                     {n::kEvaluationRewards, rewards},
                                     {n::kEvaluationDiversity, e.diversity ? Number(*e.diversity) : nullptr},
                                     {n::kEvaluationSeconds, e.seconds}};
  return Append(nlohmann::json{{n::kEvaluation, evaluation}, {n::kStep, e.step}}.dump());
}

}  // namespace align::engine
