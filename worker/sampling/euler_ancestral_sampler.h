#pragma once
// EulerAncestralDiscreteScheduler: an Euler step down to sigma_down, then
// fresh noise of standard deviation sigma_up, where sigma_up^2 + sigma_down^2
// = sigma_{i+1}^2 and sigma_up = sigma_{i+1} sqrt(1 - sigma_{i+1}^2 / sigma_i^2).

#include <cstdint>
#include <vector>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

class EulerAncestralSampler : public Sampler {
 public:
  explicit EulerAncestralSampler(const SamplerConfig& config);

  absl::Status SetTimesteps(int64_t num_inference_steps) override;
  double init_noise_sigma() const override;
  torch::Tensor ScaleModelInput(const torch::Tensor& sample, int64_t step_index) const override;
  // Every step but one that ends at sigma 0 adds noise.
  bool StepNeedsNoise(int64_t step_index) const override;
  absl::StatusOr<SamplerStepOutput> Step(const torch::Tensor& model_output, int64_t step_index,
                                         const torch::Tensor& sample, const torch::Tensor* noise) override;

 private:
  SamplerConfig config_;
  std::vector<float> alphas_cumprod_;
};

}  // namespace align::sampling
