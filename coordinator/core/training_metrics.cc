#include "coordinator/core/training_metrics.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "common/step_metrics.h"

namespace align::coordinator {

namespace {

prometheus::Family<prometheus::Gauge>* Gauges(prometheus::Registry& registry, const std::string& name,
                                              const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

const prometheus::Histogram::BucketBoundaries& StepBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                                                  5,    10,    30,   60,  120,  300, 600};
  return buckets;
}

}  // namespace

TrainingMetrics::TrainingMetrics(prometheus::Registry& registry, absl::Duration retention) : retention_(retention) {
  auto* step = Gauges(registry, "align_train_step", "Optimizer steps done, by job");
  auto* loss = Gauges(registry, "align_train_loss", "Training loss of the latest step, averaged over ranks");
  auto* accuracy = Gauges(registry, "align_train_implicit_accuracy",
                          "Share of the latest step's pairs with z > 0 (ties count 1/2)");
  auto* margin = Gauges(registry, "align_train_reward_margin", "Mean implicit reward margin of the latest step");
  auto* policy = Gauges(registry, "align_train_policy_mse", "Policy denoising MSE of the latest step, pair=w|l");
  auto* reference =
      Gauges(registry, "align_train_reference_mse", "Reference denoising MSE of the latest step, pair=w|l");
  auto* grad_norm = Gauges(registry, "align_train_grad_norm", "Global gradient norm before clipping");
  auto* lr = Gauges(registry, "align_train_learning_rate", "Learning rate of the latest step");
  auto* lora_norm = Gauges(registry, "align_train_lora_norm", "Global L2 norm of the LoRA adapter weights (LoRA jobs)");
  auto* lora_scale = Gauges(registry, "align_train_lora_scale", "LoRA scale alpha / rank (LoRA jobs)");
  auto* pairs = Gauges(registry, "align_train_pairs_per_second", "Preference pairs trained per second, all ranks");
  auto* heldout_accuracy = Gauges(registry, "align_eval_heldout_implicit_accuracy",
                                  "Held-out implicit accuracy at the latest evaluation");
  auto* heldout_loss = Gauges(registry, "align_eval_heldout_loss", "Held-out loss at the latest evaluation");
  gpu_memory_ = Gauges(registry, "align_gpu_memory_bytes", "Peak device memory of a rank in its job (0 on CPUs)");
  stage_ = Gauges(registry, "align_curriculum_stage", "Curriculum stage of the latest step, 0-based");
  namespace n = metric_names;
  by_name_ = {
      {n::kStep, {step, {}}},
      {n::kLoss, {loss, {}}},
      {n::kImplicitAccuracy, {accuracy, {}}},
      {n::kRewardMargin, {margin, {}}},
      {n::kPolicyMseWinner, {policy, {{"pair", "w"}}}},
      {n::kPolicyMseLoser, {policy, {{"pair", "l"}}}},
      {n::kReferenceMseWinner, {reference, {{"pair", "w"}}}},
      {n::kReferenceMseLoser, {reference, {{"pair", "l"}}}},
      {n::kGradNorm, {grad_norm, {}}},
      {n::kLearningRate, {lr, {}}},
      {n::kLoraNorm, {lora_norm, {}}},
      {n::kLoraScale, {lora_scale, {}}},
      {n::kPairsPerSecond, {pairs, {}}},
      {n::kStage, {stage_, {}}},
      {n::kGpuMemoryBytes, {gpu_memory_, {{"rank", "0"}}}},
      {n::kHeldoutImplicitAccuracy, {heldout_accuracy, {}}},
      {n::kHeldoutLoss, {heldout_loss, {}}},
  };
  for (const auto& [name, help] : std::vector<std::pair<std::string, std::string>>{
           {"align_eval_reward", "Mean reward of an evaluated checkpoint over its prompts x seeds"},
           {"align_eval_reward_std", "Standard deviation of an evaluated checkpoint's reward"},
           {"align_eval_prompt_variance", "Within-prompt reward variance over seeds, averaged over prompts"},
           {"align_eval_win_rate", "Share of (prompt, seed) pairs where the checkpoint beats the base (ties 1/2)"},
           {"align_eval_win_rate_ci_low", "2.5th percentile of the win rate over prompt bootstrap resamples"},
           {"align_eval_win_rate_ci_high", "97.5th percentile of the win rate over prompt bootstrap resamples"},
           {"align_eval_diversity", "Mean pairwise cosine distance of a prompt's image embeddings, over prompts"}}) {
    figures_[name] = Gauges(registry, name, help);
  }
  train_eval_reward_ = Gauges(registry, "align_train_eval_reward",
                              "Mean reward of the policy's samples at the latest evaluation during training");
  train_eval_reward_std_ = Gauges(registry, "align_train_eval_reward_std",
                                  "Standard deviation of that reward over the evaluation's images");
  train_eval_diversity_ = Gauges(registry, "align_train_eval_diversity",
                                 "Mean pairwise cosine distance of a prompt's image embeddings at the latest "
                                 "evaluation during training");
  train_eval_step_ = Gauges(registry, "align_train_eval_step", "The step of the latest evaluation during training");
  step_duration_ = &prometheus::BuildHistogram()
                        .Name("align_step_duration_seconds")
                        .Help("Wall time of optimizer steps, by job")
                        .Register(registry);
  skipped_ = &prometheus::BuildCounter()
                  .Name("align_train_skipped_steps_total")
                  .Help("Steps skipped for a non-finite loss or gradient, by job")
                  .Register(registry);
  samples_ = &prometheus::BuildCounter()
                  .Name("align_metric_samples_total")
                  .Help("Metric values received from workers")
                  .Register(registry)
                  .Add({});
  plan_messages_ = &prometheus::BuildCounter()
                        .Name("align_plan_messages_total")
                        .Help("PlanChunk and StageBoundary messages sent to worker ranks")
                        .Register(registry)
                        .Add({});
  assignments_ = &prometheus::BuildCounter()
                      .Name("align_job_assignments_total")
                      .Help("Jobs handed to worker groups (attempts)")
                      .Register(registry)
                      .Add({});
  groups_lost_ = &prometheus::BuildCounter()
                      .Name("align_worker_groups_lost_total")
                      .Help("Worker groups removed after a dropped session or a missed lease")
                      .Register(registry)
                      .Add({});
  groups_ = &prometheus::BuildGauge()
                 .Name("align_worker_groups")
                 .Help("Registered worker groups with open sessions")
                 .Register(registry)
                 .Add({});
}

prometheus::Gauge& TrainingMetrics::JobGauge(prometheus::Family<prometheus::Gauge>* family, const std::string& job,
                                             std::map<std::string, std::string> labels) {
  labels["job"] = job;
  prometheus::Gauge& gauge = family->Add(labels);
  JobSeries& series = jobs_[job];
  const std::pair<prometheus::Family<prometheus::Gauge>*, prometheus::Gauge*> entry{family, &gauge};
  if (std::find(series.gauges.begin(), series.gauges.end(), entry) == series.gauges.end()) {
    series.gauges.push_back(entry);
  }
  return gauge;
}

void TrainingMetrics::SetGaugesLocked(const std::string& job, int64_t step,
                                      const std::map<std::string, double>& values) {
  JobGauge(by_name_.at(metric_names::kStep).first, job).Set(static_cast<double>(step));
  for (const auto& [name, value] : values) {
    auto it = by_name_.find(name);
    if (it != by_name_.end()) JobGauge(it->second.first, job, it->second.second).Set(value);
  }
  jobs_[job].last_step = step;
}

void TrainingMetrics::ObserveStep(const std::string& job, int64_t step, const std::map<std::string, double>& values) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_->Increment(static_cast<double>(values.size()));
  // A repeat of the step the gauges show (the final step resent) is not a
  // new step: its duration and skip were counted when it was first reported.
  const bool repeat = jobs_[job].last_step == step;
  SetGaugesLocked(job, step, values);
  JobSeries& series = jobs_[job];
  series.ended_ms = -1;
  if (repeat) return;
  if (auto it = values.find(metric_names::kStepSeconds); it != values.end()) {
    if (series.step_duration == nullptr) {
      series.step_duration = &step_duration_->Add({{"job", job}}, StepBuckets());
    }
    series.step_duration->Observe(it->second);
  }
  if (auto it = values.find(metric_names::kSkipped); it != values.end()) {
    if (series.skipped == nullptr) series.skipped = &skipped_->Add({{"job", job}});
    if (it->second > 0) series.skipped->Increment();
  }
}

void TrainingMetrics::ObserveCompletion(const std::string& job, int64_t step,
                                        const std::map<std::string, double>& values) {
  std::lock_guard<std::mutex> lock(mu_);
  // The step's own report came first (the usual order): what it set stays.
  if (jobs_[job].last_step == step) return;
  SetGaugesLocked(job, step, values);
}

void TrainingMetrics::ObserveEval(const std::string& job, int64_t step, const std::map<std::string, double>& values) {
  namespace n = metric_names;
  std::lock_guard<std::mutex> lock(mu_);
  samples_->Increment(static_cast<double>(values.size()));
  bool train_evaluation = false;
  for (const auto& [name, value] : values) {
    if (absl::StartsWith(name, n::kTrainEvalRewardPrefix)) {
      JobGauge(train_eval_reward_, job, {{"reward", name.substr(sizeof(n::kTrainEvalRewardPrefix) - 1)}}).Set(value);
      train_evaluation = true;
    } else if (absl::StartsWith(name, n::kTrainEvalRewardStdPrefix)) {
      JobGauge(train_eval_reward_std_, job, {{"reward", name.substr(sizeof(n::kTrainEvalRewardStdPrefix) - 1)}})
          .Set(value);
      train_evaluation = true;
    } else if (name == n::kTrainEvalDiversity) {
      JobGauge(train_eval_diversity_, job).Set(value);
      train_evaluation = true;
    } else if (auto it = by_name_.find(name); it != by_name_.end() && absl::StartsWith(name, "heldout_")) {
      JobGauge(it->second.first, job).Set(value);
    }
  }
  if (train_evaluation) JobGauge(train_eval_step_, job).Set(static_cast<double>(step));
}

void TrainingMetrics::ObserveFigures(const std::string& job, const std::vector<ExportedFigure>& figures) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const ExportedFigure& figure : figures) {
    auto it = figures_.find(figure.name);
    if (it != figures_.end()) JobGauge(it->second, job, figure.labels).Set(figure.value);
  }
}

void TrainingMetrics::ObserveDeviceMemory(const std::string& job, int rank, double bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  JobGauge(gpu_memory_, job, {{"rank", std::to_string(rank)}}).Set(bytes);
}

void TrainingMetrics::SetStage(const std::string& job, int64_t stage) {
  std::lock_guard<std::mutex> lock(mu_);
  JobGauge(stage_, job).Set(static_cast<double>(stage));
}

void TrainingMetrics::JobEnded(const std::string& job, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job);
  if (it != jobs_.end()) it->second.ended_ms = now_ms;
}

void TrainingMetrics::JobResumed(const std::string& job) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job);
  if (it != jobs_.end()) it->second.ended_ms = -1;
}

void TrainingMetrics::DropExpired(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t retention_ms = absl::ToInt64Milliseconds(retention_);
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    JobSeries& series = it->second;
    if (series.ended_ms < 0 || now_ms - series.ended_ms < retention_ms) {
      ++it;
      continue;
    }
    for (auto& [family, gauge] : series.gauges) family->Remove(gauge);
    if (series.step_duration != nullptr) step_duration_->Remove(series.step_duration);
    if (series.skipped != nullptr) skipped_->Remove(series.skipped);
    it = jobs_.erase(it);
  }
}

}  // namespace align::coordinator
