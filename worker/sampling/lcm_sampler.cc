#include "worker/sampling/lcm_sampler.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/status_macros.h"
#include "worker/sampling/ddim_sampler.h"
#include "worker/sampling/sigma_schedule.h"
#include "worker/sampling/timesteps.h"

namespace align::sampling {

LcmSampler::LcmSampler(const SamplerConfig& config)
    : config_(config), alphas_cumprod_(AlphasCumprod(config.schedule, /*clamp_terminal=*/false)) {}

absl::Status LcmSampler::SetTimesteps(int64_t n) {
  ASSIGN_OR_RETURN(timesteps_, LcmTimesteps(config_, n));
  return absl::OkStatus();
}

bool LcmSampler::StepNeedsNoise(int64_t step_index) const {
  return step_index >= 0 && step_index + 1 < static_cast<int64_t>(timesteps_.size());
}

absl::StatusOr<SamplerStepOutput> LcmSampler::Step(const torch::Tensor& model_output, int64_t i,
                                                   const torch::Tensor& sample, const torch::Tensor* noise) {
  RETURN_IF_ERROR(CheckStep(model_output, i, sample, noise));
  const auto t = static_cast<int64_t>(timesteps_[i]);
  const bool last = !StepNeedsNoise(i);
  const auto prev_t = last ? t : static_cast<int64_t>(timesteps_[i + 1]);
  const float alpha = alphas_cumprod_[t];
  // Timesteps here are >= 0, so the final alpha (set_alpha_to_one) is never reached.
  const float alpha_prev = alphas_cumprod_[prev_t];

  // Boundary-condition scalings in float32 (diffusers: int64 tensor times a Python float).
  constexpr float kSigmaData2 = 0.5f * 0.5f;
  const float scaled = static_cast<float>(t) * static_cast<float>(config_.timestep_scaling);
  const float c_skip = kSigmaData2 / (scaled * scaled + kSigmaData2);
  const float c_out = scaled / std::sqrt(scaled * scaled + kSigmaData2);

  DdimPrediction p = DdimPredict(config_.schedule.prediction_type, model_output, sample, alpha);
  if (config_.clip_sample) p.original = p.original.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  SamplerStepOutput out;
  out.denoised = c_out * p.original + c_skip * sample;
  out.prev_sample = last ? out.denoised : std::sqrt(alpha_prev) * out.denoised + std::sqrt(1.0f - alpha_prev) * *noise;
  return out;
}

}  // namespace align::sampling
