#pragma once
// Builds the sampler a SamplerConfig names.

#include <memory>

#include "worker/sampling/sampler.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

std::unique_ptr<Sampler> MakeSampler(const SamplerConfig& config);

}  // namespace align::sampling
