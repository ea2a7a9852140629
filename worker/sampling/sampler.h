#pragma once
// The inference samplers ("schedulers" in diffusers): given the model's output
// at one step, the sample at the next. Modelled on diffusers' scheduler API,
// with the step named by its index rather than its timestep (timesteps can
// repeat in a schedule; indices cannot).
//
//   sampler->SetTimesteps(30);
//   x = noise * sampler->init_noise_sigma();
//   for (i = 0; i < timesteps().size(); ++i) {
//     out = unet(sampler->ScaleModelInput(x, i), sampler->timesteps()[i]);
//     x = sampler->Step(out, i, x, noise_i).prev_sample;
//   }
//
// Stochastic steps (Euler ancestral, LCM) never draw noise themselves: the
// caller passes it, injected from a reference run or drawn with
// DrawSamplerNoise (sampler_noise.h), keyed by (seed, step, sample).

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace align::sampling {

struct SamplerStepOutput {
  torch::Tensor prev_sample;
  torch::Tensor denoised;  // LCM's denoised sample; undefined for the others
};

class Sampler {
 public:
  virtual ~Sampler() = default;

  // Chooses the schedule for `num_inference_steps` and resets any multistep history.
  virtual absl::Status SetTimesteps(int64_t num_inference_steps) = 0;
  // The timesteps to give the model, descending, as diffusers holds them.
  const std::vector<double>& timesteps() const { return timesteps_; }
  // sigma per step plus the final one (Euler family, DPM-Solver); empty otherwise.
  const std::vector<float>& sigmas() const { return sigmas_; }
  // Standard deviation of the initial noise (the initial sample is noise times this).
  virtual double init_noise_sigma() const { return 1.0; }

  // The model's input at step `step_index` (identity except for the Euler family).
  virtual torch::Tensor ScaleModelInput(const torch::Tensor& sample, int64_t step_index) const;
  // Whether Step(step_index) needs `noise` (the shape of the sample).
  virtual bool StepNeedsNoise(int64_t step_index) const { return false; }
  // One step from `sample` at timesteps()[step_index]. `noise` may be null when
  // StepNeedsNoise is false. Multistep samplers remember the model outputs of
  // previous steps: call Step for 0, 1, 2, ... in order after SetTimesteps.
  virtual absl::StatusOr<SamplerStepOutput> Step(const torch::Tensor& model_output, int64_t step_index,
                                                 const torch::Tensor& sample, const torch::Tensor* noise) = 0;

 protected:
  // Errors for a step index outside the schedule, mismatched shapes or missing noise.
  absl::Status CheckStep(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                         const torch::Tensor* noise) const;

  std::vector<double> timesteps_;
  std::vector<float> sigmas_;
};

}  // namespace align::sampling
