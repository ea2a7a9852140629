#include "worker/sampling/sampler.h"

#include <torch/torch.h>

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace align::sampling {

torch::Tensor Sampler::ScaleModelInput(const torch::Tensor& sample, int64_t step_index) const {
  TORCH_CHECK(step_index >= 0 && step_index < static_cast<int64_t>(timesteps_.size()), "step index ", step_index,
              " outside the schedule of ", timesteps_.size(), " steps");
  return sample;
}

absl::Status Sampler::CheckStep(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                                const torch::Tensor* noise) const {
  if (timesteps_.empty()) return absl::FailedPreconditionError("Step before SetTimesteps");
  if (step_index < 0 || step_index >= static_cast<int64_t>(timesteps_.size())) {
    return absl::OutOfRangeError(
        absl::StrCat("step index ", step_index, " outside the schedule of ", timesteps_.size(), " steps"));
  }
  if (!model_output.defined() || !sample.defined() || model_output.sizes() != sample.sizes()) {
    return absl::InvalidArgumentError("model_output and sample must have the same shape");
  }
  if (StepNeedsNoise(step_index)) {
    if (noise == nullptr || !noise->defined()) {
      return absl::InvalidArgumentError(absl::StrCat("step ", step_index, " is stochastic and needs noise"));
    }
    if (noise->sizes() != sample.sizes()) return absl::InvalidArgumentError("noise must have the sample's shape");
  }
  return absl::OkStatus();
}

}  // namespace align::sampling
