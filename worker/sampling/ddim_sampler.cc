#include "worker/sampling/ddim_sampler.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/status_macros.h"
#include "worker/sampling/sigma_schedule.h"
#include "worker/sampling/timesteps.h"

namespace align::sampling {

DdimPrediction DdimPredict(diffusers::PredictionType prediction, const torch::Tensor& model_output,
                           const torch::Tensor& sample, float alpha) {
  const float beta = 1.0f - alpha;
  const float sqrt_alpha = std::sqrt(alpha), sqrt_beta = std::sqrt(beta);
  switch (prediction) {
    case diffusers::PredictionType::kEpsilon:
      return {(sample - sqrt_beta * model_output) / sqrt_alpha, model_output};
    case diffusers::PredictionType::kVPrediction:
      return {sqrt_alpha * sample - sqrt_beta * model_output, sqrt_alpha * model_output + sqrt_beta * sample};
    case diffusers::PredictionType::kSample:
      return {model_output, (sample - sqrt_alpha * model_output) / sqrt_beta};
  }
  return {model_output, model_output};
}

DdimSampler::DdimSampler(const SamplerConfig& config)
    : config_(config), alphas_cumprod_(AlphasCumprod(config.schedule, /*clamp_terminal=*/false)) {
  final_alpha_cumprod_ = config.set_alpha_to_one ? 1.0f : alphas_cumprod_.front();
}

absl::Status DdimSampler::SetTimesteps(int64_t n) {
  ASSIGN_OR_RETURN(timesteps_, DdimTimesteps(config_, n));
  return absl::OkStatus();
}

absl::StatusOr<SamplerStepOutput> DdimSampler::Step(const torch::Tensor& model_output, int64_t i,
                                                    const torch::Tensor& sample, const torch::Tensor* noise) {
  RETURN_IF_ERROR(CheckStep(model_output, i, sample, noise));
  const auto n = static_cast<int64_t>(timesteps_.size());
  const auto t = static_cast<int64_t>(timesteps_[i]);
  const int64_t prev_t = t - config_.schedule.num_train_timesteps / n;
  const float alpha = alphas_cumprod_[t];
  const float alpha_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
  DdimPrediction p = DdimPredict(config_.schedule.prediction_type, model_output, sample, alpha);
  if (config_.clip_sample) p.original = p.original.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  // eta = 0: no variance term, so the direction keeps all of 1 - alpha_prev.
  torch::Tensor direction = std::sqrt(1.0f - alpha_prev) * p.epsilon;
  SamplerStepOutput out;
  out.prev_sample = std::sqrt(alpha_prev) * p.original + direction;
  return out;
}

}  // namespace align::sampling
