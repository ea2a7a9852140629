#pragma once
// LCMScheduler (Luo et al., 2023): the consistency function's boundary
// condition turns the model's x0 into denoised = c_out x0 + c_skip x_t, with
// s = timestep_scaling * t, c_skip = 0.25 / (s^2 + 0.25), c_out = s / sqrt(s^2 + 0.25);
// every step but the last re-noises it to the next timestep:
//   x_prev = sqrt(alpha_prev) denoised + sqrt(1 - alpha_prev) noise.

#include <cstdint>
#include <vector>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

class LcmSampler : public Sampler {
 public:
  explicit LcmSampler(const SamplerConfig& config);

  absl::Status SetTimesteps(int64_t num_inference_steps) override;
  bool StepNeedsNoise(int64_t step_index) const override;
  absl::StatusOr<SamplerStepOutput> Step(const torch::Tensor& model_output, int64_t step_index,
                                         const torch::Tensor& sample, const torch::Tensor* noise) override;

 private:
  SamplerConfig config_;
  std::vector<float> alphas_cumprod_;
};

}  // namespace align::sampling
