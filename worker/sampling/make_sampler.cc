#include "worker/sampling/make_sampler.h"

#include <memory>

#include "worker/sampling/ddim_sampler.h"
#include "worker/sampling/dpm_solver_sampler.h"
#include "worker/sampling/euler_ancestral_sampler.h"
#include "worker/sampling/euler_sampler.h"
#include "worker/sampling/lcm_sampler.h"

namespace align::sampling {

std::unique_ptr<Sampler> MakeSampler(const SamplerConfig& config) {
  switch (config.kind) {
    case SamplerKind::kEuler: return std::make_unique<EulerSampler>(config);
    case SamplerKind::kEulerAncestral: return std::make_unique<EulerAncestralSampler>(config);
    case SamplerKind::kDdim: return std::make_unique<DdimSampler>(config);
    case SamplerKind::kDpmSolverMultistep: return std::make_unique<DpmSolverSampler>(config);
    case SamplerKind::kLcm: return std::make_unique<LcmSampler>(config);
  }
  return nullptr;
}

}  // namespace align::sampling
