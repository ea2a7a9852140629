#include "worker/sampling/timesteps.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace align::sampling {
namespace {

using diffusers::TimestepSpacing;

absl::Status CheckSteps(const SamplerConfig& config, int64_t n) {
  if (n < 1 || n > config.schedule.num_train_timesteps) {
    return absl::InvalidArgumentError(absl::StrCat("num_inference_steps must lie in [1, ",
                                                   config.schedule.num_train_timesteps, "], got ", n));
  }
  return absl::OkStatus();
}

// numpy.round: halves to even (the default floating-point rounding mode).
double RoundHalfEven(double x) { return std::nearbyint(x); }

// numpy.arange(start, 0, -step) as numpy fills it: start + i * delta, with
// delta taken from the first two values, ceil(start / step) of them.
std::vector<double> DescendingArange(double start, double step) {
  const auto count = static_cast<int64_t>(std::ceil(start / step));
  const double delta = (start - step) - start;
  std::vector<double> values;
  for (int64_t i = 0; i < count; ++i) values.push_back(start + static_cast<double>(i) * delta);
  return values;
}

// round(arange(T, 0, -T / n)) - 1: the trailing spacing every scheduler shares.
std::vector<double> Trailing(int64_t first, int64_t T, int64_t n) {
  std::vector<double> t = DescendingArange(static_cast<double>(first), static_cast<double>(T) / static_cast<double>(n));
  for (double& v : t) v = RoundHalfEven(v) - 1;
  return t;
}

// (arange(count) * ratio)[::-1] + offset: the leading spacing.
std::vector<double> Leading(int64_t count, int64_t ratio, int64_t offset) {
  std::vector<double> t;
  for (int64_t i = count - 1; i >= 0; --i) t.push_back(static_cast<double>(i * ratio + offset));
  return t;
}

// The single-step samplers' schedules (Euler, DDIM): linspace(0, T - 1, n) reversed, leading
// or trailing. They differ only in how a linspace value becomes a timestep (`linspace_value`).
absl::StatusOr<std::vector<double>> OneStepTimesteps(const SamplerConfig& config, int64_t n,
                                                     double (*linspace_value)(double)) {
  RETURN_IF_ERROR(CheckSteps(config, n));
  const int64_t T = config.schedule.num_train_timesteps;
  std::vector<double> t;
  switch (config.timestep_spacing) {
    case diffusers::TimestepSpacing::kLinspace:
      t = NumpyLinspace(0, static_cast<double>(T - 1), n);
      std::reverse(t.begin(), t.end());
      for (double& v : t) v = linspace_value(v);
      break;
    case diffusers::TimestepSpacing::kLeading: t = Leading(n, T / n, config.schedule.steps_offset); break;
    case diffusers::TimestepSpacing::kTrailing: t = Trailing(T, T, n); break;
  }
  return t;
}

}  // namespace

std::vector<double> NumpyLinspace(double start, double stop, int64_t num, bool endpoint) {
  std::vector<double> y;
  if (num <= 0) return y;
  const int64_t div = endpoint ? num - 1 : num;
  if (div == 0) return {start};
  const double step = (stop - start) / static_cast<double>(div);
  for (int64_t i = 0; i < num; ++i) y.push_back(static_cast<double>(i) * step + start);
  if (endpoint && num > 1) y.back() = stop;
  return y;
}

absl::StatusOr<std::vector<double>> EulerTimesteps(const SamplerConfig& config, int64_t n) {
  // Euler keeps linspace's values as float32 (dtype=np.float32).
  return OneStepTimesteps(config, n, [](double v) { return static_cast<double>(static_cast<float>(v)); });
}

absl::StatusOr<std::vector<double>> DdimTimesteps(const SamplerConfig& config, int64_t n) {
  // DDIM rounds linspace's values (numpy.round: halves to even).
  return OneStepTimesteps(config, n, RoundHalfEven);
}

absl::StatusOr<std::vector<double>> DpmSolverTimesteps(const SamplerConfig& config, int64_t n) {
  RETURN_IF_ERROR(CheckSteps(config, n));
  // lambda_min_clipped is -inf (anything else is rejected), so no timestep is clipped.
  const int64_t T = config.schedule.num_train_timesteps;
  std::vector<double> t;
  switch (config.timestep_spacing) {
    case diffusers::TimestepSpacing::kLinspace:
      t = NumpyLinspace(0, static_cast<double>(T - 1), n + 1);
      std::reverse(t.begin(), t.end());
      t.pop_back();
      for (double& v : t) v = RoundHalfEven(v);
      break;
    case diffusers::TimestepSpacing::kLeading:
      t = Leading(n + 1, T / (n + 1), config.schedule.steps_offset);
      t.pop_back();
      break;
    case diffusers::TimestepSpacing::kTrailing: t = Trailing(T, T, n); break;
  }
  return t;
}

absl::StatusOr<std::vector<double>> LcmTimesteps(const SamplerConfig& config, int64_t n) {
  RETURN_IF_ERROR(CheckSteps(config, n));
  const int64_t original = config.original_inference_steps;
  if (n > original) {
    return absl::InvalidArgumentError(absl::StrCat("num_inference_steps ", n,
                                                   " cannot exceed original_inference_steps ", original));
  }
  const int64_t k = config.schedule.num_train_timesteps / original;
  // The distillation schedule k*j - 1 for j = original..1, indexed at floor(linspace(0, original, n, endpoint=False)).
  std::vector<double> t;
  for (double index : NumpyLinspace(0, static_cast<double>(original), n, /*endpoint=*/false)) {
    const auto j = original - static_cast<int64_t>(std::floor(index));
    t.push_back(static_cast<double>(j * k - 1));
  }
  return t;
}

}  // namespace align::sampling
