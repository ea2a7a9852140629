#include "worker/sampling/euler_ancestral_sampler.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/status_macros.h"
#include "worker/sampling/euler_sampler.h"
#include "worker/sampling/sigma_schedule.h"
#include "worker/sampling/timesteps.h"

namespace align::sampling {

EulerAncestralSampler::EulerAncestralSampler(const SamplerConfig& config)
    : config_(config), alphas_cumprod_(AlphasCumprod(config.schedule, /*clamp_terminal=*/true)) {}

absl::Status EulerAncestralSampler::SetTimesteps(int64_t n) {
  ASSIGN_OR_RETURN(std::vector<double> timesteps, EulerTimesteps(config_, n));
  const std::vector<float> train_sigmas = TrainSigmas(alphas_cumprod_);
  sigmas_.clear();
  for (double t : timesteps) sigmas_.push_back(static_cast<float>(InterpolateAtTimestep(t, train_sigmas)));
  sigmas_.push_back(0.0f);
  timesteps_ = timesteps;
  return absl::OkStatus();
}

double EulerAncestralSampler::init_noise_sigma() const {
  return EulerInitNoiseSigma(sigmas_, config_.timestep_spacing);
}

torch::Tensor EulerAncestralSampler::ScaleModelInput(const torch::Tensor& sample, int64_t step_index) const {
  Sampler::ScaleModelInput(sample, step_index);
  const float sigma = sigmas_[step_index];
  return sample / std::sqrt(sigma * sigma + 1.0f);
}

bool EulerAncestralSampler::StepNeedsNoise(int64_t step_index) const {
  return step_index >= 0 && step_index + 1 < static_cast<int64_t>(sigmas_.size()) && sigmas_[step_index + 1] > 0;
}

absl::StatusOr<SamplerStepOutput> EulerAncestralSampler::Step(const torch::Tensor& model_output, int64_t i,
                                                              const torch::Tensor& sample_in,
                                                              const torch::Tensor* noise) {
  RETURN_IF_ERROR(CheckStep(model_output, i, sample_in, noise));
  const torch::Tensor sample = sample_in.to(torch::kFloat);
  const float sigma_from = sigmas_[i];
  const float sigma_to = sigmas_[i + 1];
  torch::Tensor x0 = EulerPredictOriginal(config_.schedule.prediction_type, model_output, sample, sigma_from);
  const float sigma_up =
      std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) / (sigma_from * sigma_from));
  const float sigma_down = std::sqrt(sigma_to * sigma_to - sigma_up * sigma_up);
  torch::Tensor derivative = (sample - x0) / sigma_from;
  torch::Tensor prev = sample + derivative * (sigma_down - sigma_from);
  if (StepNeedsNoise(i)) prev = prev + *noise * sigma_up;
  SamplerStepOutput out;
  out.prev_sample = prev.to(model_output.scalar_type());
  return out;
}

}  // namespace align::sampling
