#pragma once
// DPMSolverMultistepScheduler, algorithm dpmsolver++ (Lu et al., 2022), order
// 1 or 2. With alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha_t,
// lambda = log(alpha_t / sigma_t) and h = lambda_{i+1} - lambda_i, the model
// output becomes x0 (D0), and
//   first order:  x_{i+1} = (sigma_{i+1} / sigma_i) x_i - alpha_{i+1} (e^{-h} - 1) D0
//   second order: the same plus -1/2 alpha_{i+1} (e^{-h} - 1) D1 (midpoint) or
//                 + alpha_{i+1} ((e^{-h} - 1) / h + 1) D1 (heun),
//                 D1 = (D0 - x0_{i-1}) h / h_{i-1}.
// The first step, and the last when lower_order_final / euler_at_final /
// a zero final sigma say so, are first order.

#include <cstdint>
#include <vector>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

class DpmSolverSampler : public Sampler {
 public:
  explicit DpmSolverSampler(const SamplerConfig& config);

  absl::Status SetTimesteps(int64_t num_inference_steps) override;
  absl::StatusOr<SamplerStepOutput> Step(const torch::Tensor& model_output, int64_t step_index,
                                         const torch::Tensor& sample, const torch::Tensor* noise) override;

 private:
  torch::Tensor ConvertModelOutput(const torch::Tensor& model_output, const torch::Tensor& sample,
                                   int64_t step_index) const;

  SamplerConfig config_;
  std::vector<float> alphas_cumprod_;
  // The previous step's x0 and its index: the multistep history.
  torch::Tensor previous_original_;
  int64_t previous_step_ = -1;
};

}  // namespace align::sampling
