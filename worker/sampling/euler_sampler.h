#pragma once
// EulerDiscreteScheduler: Karras et al. (2022)'s Euler method on the
// probability-flow ODE in sigma, x_{i+1} = x_i + (x_i - x0_i) / sigma_i *
// (sigma_{i+1} - sigma_i), with the model seeing x_i / sqrt(sigma_i^2 + 1).
// No churn (s_churn = 0, diffusers' default), so the step is deterministic.

#include <cstdint>
#include <vector>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

class EulerSampler : public Sampler {
 public:
  explicit EulerSampler(const SamplerConfig& config);

  absl::Status SetTimesteps(int64_t num_inference_steps) override;
  double init_noise_sigma() const override;
  torch::Tensor ScaleModelInput(const torch::Tensor& sample, int64_t step_index) const override;
  absl::StatusOr<SamplerStepOutput> Step(const torch::Tensor& model_output, int64_t step_index,
                                         const torch::Tensor& sample, const torch::Tensor* noise) override;

 private:
  SamplerConfig config_;
  std::vector<float> alphas_cumprod_;
};

// The Euler family's x0 from the model output at sigma (epsilon, v or x0
// prediction), in the sample's float32 as diffusers computes it.
torch::Tensor EulerPredictOriginal(diffusers::PredictionType prediction, const torch::Tensor& model_output,
                                   const torch::Tensor& sample, float sigma);

// sigma_max, or sqrt(sigma_max^2 + 1) for leading spacing (whose first
// timestep is not the last training one), float32.
double EulerInitNoiseSigma(const std::vector<float>& sigmas, diffusers::TimestepSpacing spacing);

}  // namespace align::sampling
