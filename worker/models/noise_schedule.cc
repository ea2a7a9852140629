#include "worker/models/noise_schedule.h"

#include <torch/torch.h>

#include <cmath>
#include <mutex>
#include <vector>

namespace align::models {

NoiseSchedule::NoiseSchedule(const diffusers::SchedulerConfig& config) : config_(config) {
  const int64_t T = config.num_train_timesteps;
  torch::Tensor betas;
  if (!config.trained_betas.empty()) {
    betas = torch::tensor(config.trained_betas, torch::kDouble).to(torch::kFloat);
  } else if (config.beta_schedule == diffusers::BetaSchedule::kScaledLinear) {
    betas = torch::linspace(std::sqrt(config.beta_start), std::sqrt(config.beta_end), T,
                            torch::TensorOptions().dtype(torch::kFloat))
                .pow(2);
  } else {
    betas = torch::linspace(config.beta_start, config.beta_end, T, torch::TensorOptions().dtype(torch::kFloat));
  }
  alphas_cumprod_ = torch::cumprod(1.0 - betas, 0);
}

std::pair<torch::Tensor, torch::Tensor> NoiseSchedule::Coefficients(const torch::Tensor& like,
                                                                    const torch::Tensor& timesteps) const {
  TORCH_CHECK(timesteps.dim() == 1 && timesteps.size(0) == like.size(0),
              "timesteps must be [batch] matching the samples");
  if (timesteps.is_cpu()) {
    TORCH_CHECK(timesteps.min().item<int64_t>() >= 0 &&
                    timesteps.max().item<int64_t>() < config_.num_train_timesteps,
                "timesteps must lie in [0, ", config_.num_train_timesteps, ")");
  } else {
    // Checked where the timesteps are, without the host waiting for them (a
    // captured training step never does): a device-side assertion.
    at::_assert_async(torch::logical_and(timesteps.min() >= 0, timesteps.max() < config_.num_train_timesteps),
                      "timesteps must lie in [0, num_train_timesteps)");
  }
  torch::Tensor a = AlphasCumprodOn(like.device()).index_select(0, timesteps.to(like.device()).to(torch::kLong));
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  torch::Tensor sqrt_a = a.sqrt().to(like.scalar_type()).view(shape);
  torch::Tensor sqrt_one_minus_a = (1.0 - a).sqrt().to(like.scalar_type()).view(shape);
  return {sqrt_a, sqrt_one_minus_a};
}

torch::Tensor NoiseSchedule::AlphasCumprodOn(torch::Device device) const {
  if (device.is_cpu()) return alphas_cumprod_;
  const std::lock_guard<std::mutex> lock(device_copies_mutex_);
  for (const torch::Tensor& copy : device_copies_) {
    if (copy.device() == device) return copy;
  }
  device_copies_.push_back(alphas_cumprod_.to(device));
  return device_copies_.back();
}

torch::Tensor NoiseSchedule::AddNoise(const torch::Tensor& x0, const torch::Tensor& noise,
                                      const torch::Tensor& timesteps) const {
  auto [sqrt_a, sqrt_one_minus_a] = Coefficients(x0, timesteps);
  return sqrt_a * x0 + sqrt_one_minus_a * noise;
}

torch::Tensor NoiseSchedule::Velocity(const torch::Tensor& x0, const torch::Tensor& noise,
                                      const torch::Tensor& timesteps) const {
  auto [sqrt_a, sqrt_one_minus_a] = Coefficients(x0, timesteps);
  return sqrt_a * noise - sqrt_one_minus_a * x0;
}

torch::Tensor NoiseSchedule::Target(const torch::Tensor& x0, const torch::Tensor& noise,
                                    const torch::Tensor& timesteps) const {
  return config_.prediction_type == diffusers::PredictionType::kVPrediction ? Velocity(x0, noise, timesteps) : noise;
}

}  // namespace align::models
