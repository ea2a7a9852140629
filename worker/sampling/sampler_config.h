#pragma once
// Which inference sampler to build and with which options, read from a
// diffusers scheduler_config.json. The fields shared with training come from
// diffusers::SchedulerConfigFromJson; this adds each sampler's own options and
// rejects, by name and value, every option the samplers do not implement.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/diffusers/scheduler_config.h"

namespace align::sampling {

enum class SamplerKind {
  kEuler,               // EulerDiscreteScheduler
  kEulerAncestral,      // EulerAncestralDiscreteScheduler
  kDdim,                // DDIMScheduler
  kDpmSolverMultistep,  // DPMSolverMultistepScheduler (dpmsolver++)
  kLcm,                 // LCMScheduler
};

enum class FinalSigmas { kZero, kSigmaMin };
enum class DpmSolverType { kMidpoint, kHeun };

struct SamplerConfig {
  SamplerKind kind = SamplerKind::kEuler;
  diffusers::SchedulerConfig schedule;
  diffusers::TimestepSpacing timestep_spacing = diffusers::TimestepSpacing::kLinspace;  // resolved per class

  // DDIM, LCM: clamp the predicted x0 to [-clip_sample_range, clip_sample_range].
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  // DDIM, LCM: alphas_cumprod "before" timestep 0 is 1 (else alphas_cumprod[0]).
  bool set_alpha_to_one = true;

  // Euler, DPM-Solver++: sigma schedule.
  bool use_karras_sigmas = false;
  std::optional<double> sigma_min, sigma_max;  // Euler's Karras bounds; absent: the schedule's
  FinalSigmas final_sigmas_type = FinalSigmas::kZero;

  // DPM-Solver++.
  int solver_order = 2;
  DpmSolverType solver_type = DpmSolverType::kMidpoint;
  bool lower_order_final = true;
  bool euler_at_final = false;

  // LCM.
  int64_t original_inference_steps = 50;
  double timestep_scaling = 10.0;
};

// "EulerDiscreteScheduler" or "euler", "EulerAncestralDiscreteScheduler" or
// "euler-ancestral", "DDIMScheduler" or "ddim", "DPMSolverMultistepScheduler"
// or "dpmpp-2m", "LCMScheduler" or "lcm".
absl::StatusOr<SamplerKind> SamplerKindFromName(const std::string& name);
std::string SamplerClassName(SamplerKind kind);

// `sampler`: the sampler to build, overriding the file's _class_name; empty
// to use _class_name.
absl::StatusOr<SamplerConfig> ParseSamplerConfig(const std::string& json_text, const std::string& sampler = "");
// Reads `path`: a scheduler_config.json, or a model folder holding
// scheduler/scheduler_config.json.
absl::StatusOr<SamplerConfig> LoadSamplerConfig(const std::string& path, const std::string& sampler = "");

}  // namespace align::sampling
