#include "worker/sampling/dpm_solver_sampler.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/sampling/sigma_schedule.h"
#include "worker/sampling/timesteps.h"

namespace align::sampling {
namespace {

// alpha_t, sigma_t and lambda_t of a sigma, in float32 as diffusers' 0-d tensors.
struct NoiseLevel {
  float alpha;
  float sigma;
  float lambda;
};
NoiseLevel LevelOf(float sigma) {
  NoiseLevel l;
  l.alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  l.sigma = sigma * l.alpha;
  l.lambda = std::log(l.alpha) - std::log(l.sigma);  // +inf at sigma 0
  return l;
}

}  // namespace

DpmSolverSampler::DpmSolverSampler(const SamplerConfig& config)
    : config_(config), alphas_cumprod_(AlphasCumprod(config.schedule, /*clamp_terminal=*/true)) {}

absl::Status DpmSolverSampler::SetTimesteps(int64_t n) {
  ASSIGN_OR_RETURN(std::vector<double> timesteps, DpmSolverTimesteps(config_, n));
  const std::vector<float> train_sigmas = TrainSigmas(alphas_cumprod_);
  std::vector<double> sigmas;
  if (config_.use_karras_sigmas) {
    std::vector<float> log_sigmas;
    for (float s : train_sigmas) log_sigmas.push_back(std::log(s));
    // Karras over the whole training range: sigma_min at t = 0, sigma_max at t = T - 1.
    sigmas = KarrasSigmas(train_sigmas.front(), train_sigmas.back(), n);
    timesteps.clear();
    for (double s : sigmas) timesteps.push_back(std::nearbyint(SigmaToTimestep(s, log_sigmas)));
  } else {
    for (double t : timesteps) sigmas.push_back(InterpolateAtTimestep(t, train_sigmas));
  }
  sigmas_.clear();
  for (double s : sigmas) sigmas_.push_back(static_cast<float>(s));
  sigmas_.push_back(config_.final_sigmas_type == FinalSigmas::kSigmaMin ? train_sigmas.front() : 0.0f);
  timesteps_ = timesteps;
  previous_original_ = torch::Tensor();
  previous_step_ = -1;
  return absl::OkStatus();
}

torch::Tensor DpmSolverSampler::ConvertModelOutput(const torch::Tensor& model_output, const torch::Tensor& sample,
                                                   int64_t i) const {
  const NoiseLevel s = LevelOf(sigmas_[i]);
  switch (config_.schedule.prediction_type) {
    case diffusers::PredictionType::kEpsilon: return (sample - s.sigma * model_output) / s.alpha;
    case diffusers::PredictionType::kVPrediction: return s.alpha * sample - s.sigma * model_output;
    case diffusers::PredictionType::kSample: return model_output;
  }
  return model_output;
}

absl::StatusOr<SamplerStepOutput> DpmSolverSampler::Step(const torch::Tensor& model_output, int64_t i,
                                                         const torch::Tensor& sample_in, const torch::Tensor* noise) {
  RETURN_IF_ERROR(CheckStep(model_output, i, sample_in, noise));
  if (i > 0 && previous_step_ != i - 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("DPM-Solver steps must run in order after SetTimesteps: step ", i, " after step ", previous_step_));
  }
  const auto n = static_cast<int64_t>(timesteps_.size());
  const bool lower_order_final =
      i == n - 1 && (config_.euler_at_final || (config_.lower_order_final && n < 15) ||
                     config_.final_sigmas_type == FinalSigmas::kZero);
  torch::Tensor d0 = ConvertModelOutput(model_output, sample_in, i);
  const torch::Tensor sample = sample_in.to(torch::kFloat);

  const NoiseLevel t = LevelOf(sigmas_[i + 1]);
  const NoiseLevel s0 = LevelOf(sigmas_[i]);
  const float h = t.lambda - s0.lambda;
  const float expm = std::exp(-h) - 1.0f;  // e^{-h} - 1
  torch::Tensor prev = (t.sigma / s0.sigma) * sample - (t.alpha * expm) * d0;
  if (config_.solver_order == 2 && i > 0 && !lower_order_final) {
    const NoiseLevel s1 = LevelOf(sigmas_[i - 1]);
    const float r0 = (s0.lambda - s1.lambda) / h;
    torch::Tensor d1 = (1.0f / r0) * (d0 - previous_original_);
    if (config_.solver_type == DpmSolverType::kMidpoint) {
      prev = prev - 0.5f * (t.alpha * expm) * d1;
    } else {
      prev = prev + (t.alpha * (expm / h + 1.0f)) * d1;
    }
  }
  previous_original_ = d0;
  previous_step_ = i;
  SamplerStepOutput out;
  out.prev_sample = prev.to(model_output.scalar_type());
  return out;
}

}  // namespace align::sampling
