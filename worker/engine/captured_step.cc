#include "worker/engine/captured_step.h"

#include <torch/torch.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/models/autocast.h"

namespace align::engine {
namespace {

// Where CapturedStep::outcome_ keeps what is not a metric.
constexpr int64_t kNonfiniteLosses = kStepMetricCount;
constexpr int64_t kGradNorm = kStepMetricCount + 1;
constexpr int64_t kSkipped = kStepMetricCount + 2;
constexpr int64_t kOutcomeSize = kStepMetricCount + 3;

// A micro-batch's tensors in a fixed order; `pooled` only where the model has one.
std::vector<torch::Tensor> Flatten(const PairTensors& batch, const NoiseDraws& draws) {
  std::vector<torch::Tensor> tensors = {batch.latents, batch.prompt_embeds, batch.time_ids, draws.noise,
                                        draws.timesteps};
  if (batch.pooled.defined()) tensors.push_back(batch.pooled);
  return tensors;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CapturedStep>> CapturedStep::Create(PreferenceStep& step, ParameterUpdater& updater,
                                                                   torch::Device device, CapturedStepOptions options) {
  RETURN_IF_ERROR(updater.CanStepOnDevice());
  return std::unique_ptr<CapturedStep>(new CapturedStep(step, updater, device, options));
}

void CapturedStep::MakeGraph(const std::vector<PairTensors>& batches, const std::vector<NoiseDraws>& draws) {
  auto static_copy = [](const torch::Tensor& t) { return t.defined() ? torch::empty_like(t) : torch::Tensor(); };
  std::vector<torch::Tensor> inputs;
  for (size_t i = 0; i < batches.size(); ++i) {
    PairTensors batch;
    batch.pairs = batches[i].pairs;
    batch.latents = static_copy(batches[i].latents);
    batch.prompt_embeds = static_copy(batches[i].prompt_embeds);
    batch.pooled = static_copy(batches[i].pooled);
    batch.time_ids = static_copy(batches[i].time_ids);
    const NoiseDraws noise{static_copy(draws[i].noise), static_copy(draws[i].timesteps)};
    for (const torch::Tensor& t : Flatten(batch, noise)) inputs.push_back(t);
    static_batches_.push_back(std::move(batch));
    static_draws_.push_back(noise);
  }
  static_lr_ = torch::zeros({}, torch::TensorOptions(torch::kFloat).device(device_));
  inputs.push_back(static_lr_);
  outcome_ = torch::zeros({kOutcomeSize}, torch::TensorOptions(torch::kDouble).device(device_));
  graph_ = std::make_unique<StepGraph>(device_, std::move(inputs), [this] { StepOnDevice(); }, options_.warmup_runs);
}

void CapturedStep::StepOnDevice() {
  updater_.ZeroGradientsInPlace();
  const auto fp64 = torch::TensorOptions(torch::kDouble).device(device_);
  torch::Tensor metric_sums = torch::zeros({kStepMetricCount}, fp64);
  torch::Tensor nonfinite = torch::zeros({}, torch::TensorOptions(torch::kFloat).device(device_));
  const int64_t micro_batches = static_cast<int64_t>(static_batches_.size());
  {
    // Ends with the backward passes, before the optimizer changes the weights.
    std::optional<models::WeightCastCache> weight_casts;
    if (options_.per_step_weight_casts) weight_casts.emplace();
    for (int64_t micro = 0; micro < micro_batches; ++micro) {
      StepResult r = step_.ForwardOnDevice(static_batches_[micro], static_draws_[micro], /*train=*/true);
      if (micro + 1 == micro_batches) updater_.BeforeLastBackward();
      (r.out.loss / static_cast<double>(micro_batches)).backward();
      torch::NoGradGuard no_grad;
      metric_sums.add_(r.metrics);
      nonfinite.add_(torch::isfinite(r.out.loss.detach()).logical_not());
    }
  }
  const DeviceUpdate update = UpdateOnDevice(updater_, static_lr_, options_.grad_clip, nonfinite);
  torch::NoGradGuard no_grad;
  outcome_.narrow(0, 0, kStepMetricCount).copy_(metric_sums);
  outcome_[kNonfiniteLosses].copy_(nonfinite);
  outcome_[kGradNorm].copy_(update.grad_norm);
  outcome_[kSkipped].copy_(update.skipped);
}

absl::StatusOr<CapturedStepOutcome> CapturedStep::Run(const std::vector<PairTensors>& batches,
                                                      const std::vector<NoiseDraws>& draws, double lr) {
  if (batches.empty() || batches.size() != draws.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CapturedStep: ", batches.size(), " micro-batches with ", draws.size(), " noise draws"));
  }
  if (!graph_) MakeGraph(batches, draws);
  if (batches.size() != static_batches_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("CapturedStep: ", batches.size(), " micro-batches; the step holds ",
                                                   static_batches_.size()));
  }
  std::vector<torch::Tensor> inputs;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (batches[i].pairs != static_batches_[i].pairs) {
      return absl::InvalidArgumentError(absl::StrCat("CapturedStep: micro-batch ", i, " has ", batches[i].pairs,
                                                     " pairs; the step holds ", static_batches_[i].pairs));
    }
    for (const torch::Tensor& t : Flatten(batches[i], draws[i])) inputs.push_back(t);
  }
  inputs.push_back(torch::full({}, lr, torch::kFloat));
  RETURN_IF_ERROR(graph_->Run(inputs));

  // One read after the step: the first host synchronisation.
  const torch::Tensor host = outcome_.cpu();
  const double* values = host.data_ptr<double>();
  CapturedStepOutcome outcome;
  outcome.metric_sums.assign(values, values + kStepMetricCount);
  outcome.nonfinite_losses = static_cast<int64_t>(values[kNonfiniteLosses]);
  outcome.grad_norm = values[kGradNorm];
  outcome.skipped = values[kSkipped] != 0;
  return outcome;
}

}  // namespace align::engine
