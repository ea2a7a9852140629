#include "worker/sampling/sigma_schedule.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "worker/sampling/timesteps.h"

namespace align::sampling {
namespace {

std::vector<float> ToFloats(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous().to(torch::kFloat);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Lin et al. (2023), Algorithm 1: shift and scale sqrt(alphas_cumprod) so the
// last one is 0 and the first unchanged, then recover the betas. float32.
torch::Tensor RescaleZeroTerminalSnr(const torch::Tensor& betas) {
  torch::Tensor alphas_bar_sqrt = torch::cumprod(1.0 - betas, 0).sqrt();
  torch::Tensor first = alphas_bar_sqrt[0].clone();
  torch::Tensor last = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt -= last;
  alphas_bar_sqrt *= first / (first - last);
  torch::Tensor alphas_bar = alphas_bar_sqrt.pow(2);
  torch::Tensor alphas = torch::cat({alphas_bar.slice(0, 0, 1), alphas_bar.slice(0, 1) / alphas_bar.slice(0, 0, -1)});
  return 1 - alphas;
}

}  // namespace

std::vector<float> AlphasCumprod(const diffusers::SchedulerConfig& config, bool clamp_terminal) {
  const int64_t T = config.num_train_timesteps;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  torch::Tensor betas;
  if (!config.trained_betas.empty()) {
    betas = torch::tensor(config.trained_betas, torch::kDouble).to(torch::kFloat);
  } else if (config.beta_schedule == diffusers::BetaSchedule::kScaledLinear) {
    betas = torch::linspace(std::sqrt(config.beta_start), std::sqrt(config.beta_end), T, f32).pow(2);
  } else {
    betas = torch::linspace(config.beta_start, config.beta_end, T, f32);
  }
  if (config.rescale_betas_zero_snr) betas = RescaleZeroTerminalSnr(betas);
  std::vector<float> alphas_cumprod = ToFloats(torch::cumprod(1.0 - betas, 0));
  if (config.rescale_betas_zero_snr && clamp_terminal) alphas_cumprod.back() = std::ldexp(1.0f, -24);
  return alphas_cumprod;
}

std::vector<float> TrainSigmas(const std::vector<float>& alphas_cumprod) {
  std::vector<float> sigmas;
  sigmas.reserve(alphas_cumprod.size());
  for (float a : alphas_cumprod) sigmas.push_back(std::sqrt((1.0f - a) / a));
  return sigmas;
}

double InterpolateAtTimestep(double x, const std::vector<float>& fp) {
  const auto last = static_cast<int64_t>(fp.size()) - 1;
  if (x <= 0) return fp.front();
  if (x >= static_cast<double>(last)) return fp.back();
  const auto j = static_cast<int64_t>(std::floor(x));
  const double slope = static_cast<double>(fp[j + 1]) - static_cast<double>(fp[j]);
  return slope * (x - static_cast<double>(j)) + static_cast<double>(fp[j]);
}

std::vector<double> KarrasSigmas(double sigma_min, double sigma_max, int64_t n) {
  constexpr double kRho = 7.0;
  const double min_inv_rho = std::pow(sigma_min, 1 / kRho);
  const double max_inv_rho = std::pow(sigma_max, 1 / kRho);
  std::vector<double> sigmas;
  for (double ramp : NumpyLinspace(0, 1, n)) sigmas.push_back(std::pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), kRho));
  return sigmas;
}

double SigmaToTimestep(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const auto size = static_cast<int64_t>(log_sigmas.size());
  // The last index whose log-sigma is <= log_sigma (0 when none), at most size - 2.
  int64_t low = 0;
  for (int64_t i = 0; i < size; ++i) {
    if (log_sigma - static_cast<double>(log_sigmas[i]) >= 0) low = i;
  }
  low = std::min(low, size - 2);
  const double lo = log_sigmas[low], hi = log_sigmas[low + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

}  // namespace align::sampling
