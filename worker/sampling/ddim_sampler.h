#pragma once
// DDIMScheduler with eta = 0 (deterministic): from the x0 and epsilon the model
// output implies at alpha_t, x_prev = sqrt(alpha_prev) x0 + sqrt(1 - alpha_prev) eps,
// where alpha_prev is alphas_cumprod at t - T // n (diffusers' stride, whatever
// the spacing), or the final alpha below timestep 0.

#include <cstdint>
#include <vector>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

class DdimSampler : public Sampler {
 public:
  explicit DdimSampler(const SamplerConfig& config);

  absl::Status SetTimesteps(int64_t num_inference_steps) override;
  absl::StatusOr<SamplerStepOutput> Step(const torch::Tensor& model_output, int64_t step_index,
                                         const torch::Tensor& sample, const torch::Tensor* noise) override;

 private:
  SamplerConfig config_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
};

// x0 and epsilon implied by the model output at alphas_cumprod `alpha` (DDIM, LCM), float32.
struct DdimPrediction {
  torch::Tensor original;
  torch::Tensor epsilon;
};
DdimPrediction DdimPredict(diffusers::PredictionType prediction, const torch::Tensor& model_output,
                           const torch::Tensor& sample, float alpha);

}  // namespace align::sampling
