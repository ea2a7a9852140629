#pragma once

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

// The DDPM forward process used for training: alphas_cumprod from the betas,
// q(x_t | x_0) noising, and the training target (epsilon or velocity).

#include <torch/types.h>

#include "common/diffusers/scheduler_config.h"

namespace align::models {

class NoiseSchedule {
 public:
  explicit NoiseSchedule(const diffusers::SchedulerConfig& config);

  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  diffusers::PredictionType prediction_type() const { return config_.prediction_type; }
  // [T] fp32, as diffusers computes it (betas in fp32, cumulative product in fp32).
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }

  // sqrt(a_t) x0 + sqrt(1 - a_t) noise, with t [B] broadcast over x0's other dims.
  torch::Tensor AddNoise(const torch::Tensor& x0, const torch::Tensor& noise,
                         const torch::Tensor& timesteps) const;
  // sqrt(a_t) noise - sqrt(1 - a_t) x0 (the v-prediction target).
  torch::Tensor Velocity(const torch::Tensor& x0, const torch::Tensor& noise,
                         const torch::Tensor& timesteps) const;
  // What the model is trained to predict under this config's prediction_type.
  torch::Tensor Target(const torch::Tensor& x0, const torch::Tensor& noise,
                       const torch::Tensor& timesteps) const;

 private:
  // sqrt(a_t) and sqrt(1 - a_t) shaped [B, 1, 1, ...] like `like`.
  std::pair<torch::Tensor, torch::Tensor> Coefficients(const torch::Tensor& like,
                                                       const torch::Tensor& timesteps) const;

  // alphas_cumprod_ on `device`, copied there once: a copy from host memory
  // per step could not be captured in a CUDA graph.
  torch::Tensor AlphasCumprodOn(torch::Device device) const;

  diffusers::SchedulerConfig config_;
  torch::Tensor alphas_cumprod_;
  mutable std::mutex device_copies_mutex_;
  mutable std::vector<torch::Tensor> device_copies_;
};

}  // namespace align::models
