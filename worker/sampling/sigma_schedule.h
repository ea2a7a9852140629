#pragma once
// The discrete training schedule as the samplers see it, in the precisions
// diffusers uses: betas and alphas_cumprod in float32 (torch), sigmas
// interpolated in float64 (numpy) and stored back as float32.

#include <cstdint>
#include <vector>

#include "common/diffusers/scheduler_config.h"

namespace align::sampling {

// alphas_cumprod [T] in float32 from the betas (linear, scaled_linear or
// trained), after zero-terminal-SNR rescaling when configured. The Euler family
// and DPM-Solver then set the last one to 2^-24 so that its sigma stays finite
// (`clamp_terminal`); DDIM and LCM keep the 0.
std::vector<float> AlphasCumprod(const diffusers::SchedulerConfig& config, bool clamp_terminal);

// sqrt((1 - a) / a) per training timestep, float32.
std::vector<float> TrainSigmas(const std::vector<float>& alphas_cumprod);

// numpy.interp(x, arange(len(fp)), fp) in float64.
double InterpolateAtTimestep(double x, const std::vector<float>& fp);

// Karras et al. (2022)'s rho = 7 ramp from sigma_max down to sigma_min, n points, float64.
std::vector<double> KarrasSigmas(double sigma_min, double sigma_max, int64_t n);

// The fractional training timestep whose log-sigma, linearly interpolated in
// `log_sigmas` (float32 logs of TrainSigmas), equals log(sigma).
double SigmaToTimestep(double sigma, const std::vector<float>& log_sigmas);

}  // namespace align::sampling
