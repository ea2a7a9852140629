#include "worker/sampling/euler_sampler.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/status_macros.h"
#include "worker/sampling/sigma_schedule.h"
#include "worker/sampling/timesteps.h"

namespace align::sampling {

torch::Tensor EulerPredictOriginal(diffusers::PredictionType prediction, const torch::Tensor& model_output,
                                   const torch::Tensor& sample, float sigma) {
  switch (prediction) {
    case diffusers::PredictionType::kEpsilon: return sample - sigma * model_output;
    case diffusers::PredictionType::kVPrediction: {
      const float variance = sigma * sigma + 1.0f;
      return model_output * (-sigma / std::sqrt(variance)) + sample / variance;
    }
    case diffusers::PredictionType::kSample: return model_output;
  }
  return model_output;
}

double EulerInitNoiseSigma(const std::vector<float>& sigmas, diffusers::TimestepSpacing spacing) {
  const float max_sigma = *std::max_element(sigmas.begin(), sigmas.end());
  if (spacing != diffusers::TimestepSpacing::kLeading) return max_sigma;
  return std::sqrt(max_sigma * max_sigma + 1.0f);
}

EulerSampler::EulerSampler(const SamplerConfig& config)
    : config_(config), alphas_cumprod_(AlphasCumprod(config.schedule, /*clamp_terminal=*/true)) {}

absl::Status EulerSampler::SetTimesteps(int64_t n) {
  ASSIGN_OR_RETURN(std::vector<double> timesteps, EulerTimesteps(config_, n));
  const std::vector<float> train_sigmas = TrainSigmas(alphas_cumprod_);
  std::vector<double> sigmas;
  for (double t : timesteps) sigmas.push_back(InterpolateAtTimestep(t, train_sigmas));
  if (config_.use_karras_sigmas) {
    std::vector<float> log_sigmas;
    for (float s : train_sigmas) log_sigmas.push_back(std::log(s));
    sigmas = KarrasSigmas(config_.sigma_min.value_or(sigmas.back()), config_.sigma_max.value_or(sigmas.front()), n);
    timesteps.clear();
    for (double s : sigmas) timesteps.push_back(SigmaToTimestep(s, log_sigmas));
  }
  const float last = config_.final_sigmas_type == FinalSigmas::kSigmaMin ? train_sigmas.front() : 0.0f;
  sigmas_.clear();
  for (double s : sigmas) sigmas_.push_back(static_cast<float>(s));
  sigmas_.push_back(last);
  timesteps_.clear();
  for (double t : timesteps) timesteps_.push_back(static_cast<float>(t));  // diffusers keeps float32
  return absl::OkStatus();
}

double EulerSampler::init_noise_sigma() const { return EulerInitNoiseSigma(sigmas_, config_.timestep_spacing); }

torch::Tensor EulerSampler::ScaleModelInput(const torch::Tensor& sample, int64_t step_index) const {
  Sampler::ScaleModelInput(sample, step_index);
  const float sigma = sigmas_[step_index];
  return sample / std::sqrt(sigma * sigma + 1.0f);
}

absl::StatusOr<SamplerStepOutput> EulerSampler::Step(const torch::Tensor& model_output, int64_t i,
                                                     const torch::Tensor& sample_in, const torch::Tensor* noise) {
  RETURN_IF_ERROR(CheckStep(model_output, i, sample_in, noise));
  const torch::Tensor sample = sample_in.to(torch::kFloat);
  const float sigma = sigmas_[i];
  torch::Tensor x0 = EulerPredictOriginal(config_.schedule.prediction_type, model_output, sample, sigma);
  torch::Tensor derivative = (sample - x0) / sigma;
  const float dt = sigmas_[i + 1] - sigma;
  SamplerStepOutput out;
  out.prev_sample = (sample + derivative * dt).to(model_output.scalar_type());
  return out;
}

}  // namespace align::sampling
