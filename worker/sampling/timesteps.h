#pragma once
// The inference timesteps each diffusers scheduler picks for
// num_inference_steps, in the order they are visited (descending). Values are
// doubles holding exactly what diffusers holds: integers for DDIM, DPM-Solver
// and LCM, float32 values for the Euler family (whose linspace is not rounded).

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

// numpy.linspace(start, stop, num, endpoint) in float64, computed as numpy does.
std::vector<double> NumpyLinspace(double start, double stop, int64_t num, bool endpoint = true);

// Euler and Euler ancestral: linspace float32 (unrounded), leading
// (i * (T // n) + steps_offset), trailing (round(arange(T, 0, -T/n)) - 1).
absl::StatusOr<std::vector<double>> EulerTimesteps(const SamplerConfig& config, int64_t num_inference_steps);
// DDIM: as the Euler family, linspace rounded to integers.
absl::StatusOr<std::vector<double>> DdimTimesteps(const SamplerConfig& config, int64_t num_inference_steps);
// DPM-Solver: n + 1 points of which the last (t = 0) is dropped.
absl::StatusOr<std::vector<double>> DpmSolverTimesteps(const SamplerConfig& config, int64_t num_inference_steps);
// LCM: n of the original_inference_steps distillation timesteps
// (k * j - 1, k = T // original), evenly spaced by index from the top.
absl::StatusOr<std::vector<double>> LcmTimesteps(const SamplerConfig& config, int64_t num_inference_steps);

}  // namespace align::sampling
