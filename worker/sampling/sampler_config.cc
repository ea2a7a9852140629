#include "worker/sampling/sampler_config.h"

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::sampling {
namespace {

using diffusers::ConfigBool;
using diffusers::ConfigNumber;
using diffusers::ConfigString;

absl::Status Unsupported(SamplerKind kind, const char* key, const nlohmann::json& value, const std::string& allowed) {
  return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: ", key, " = ", value.dump(),
                                                 " is not supported by ", SamplerClassName(kind), " (supported: ",
                                                 allowed, ")"));
}

// Accepts `key` when absent, null, or one of `allowed`; rejects any other
// value by name. Used for options whose other values select algorithms the
// samplers do not implement.
absl::Status RequireOneOf(SamplerKind kind, const nlohmann::json& j, const char* key,
                          const std::vector<nlohmann::json>& allowed) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const nlohmann::json& a : allowed) {
    if (j[key] == a) return absl::OkStatus();
    names.push_back(a.dump());
  }
  return Unsupported(kind, key, j[key], absl::StrJoin(names, ", "));
}

absl::StatusOr<FinalSigmas> ReadFinalSigmas(SamplerKind kind, const nlohmann::json& j) {
  ASSIGN_OR_RETURN(std::string value, diffusers::ConfigString(j, "final_sigmas_type", "zero"));
  if (value == "zero") return FinalSigmas::kZero;
  if (value == "sigma_min") return FinalSigmas::kSigmaMin;
  return Unsupported(kind, "final_sigmas_type", j["final_sigmas_type"], "\"zero\", \"sigma_min\"");
}

absl::StatusOr<std::optional<double>> OptionalNumber(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<double>();
  ASSIGN_OR_RETURN(double v, diffusers::ConfigNumber(j, key, 0));
  if (!(v > 0)) return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: ", key, " must be > 0"));
  return std::optional<double>(v);
}

absl::Status ReadEuler(const nlohmann::json& j, SamplerConfig& c) {
  const SamplerKind k = c.kind;
  RETURN_IF_ERROR(RequireOneOf(k, j, "interpolation_type", {"linear"}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "timestep_type", {"discrete"}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_exponential_sigmas", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_beta_sigmas", {false}));
  ASSIGN_OR_RETURN(c.use_karras_sigmas, diffusers::ConfigBool(j, "use_karras_sigmas", false));
  ASSIGN_OR_RETURN(c.sigma_min, OptionalNumber(j, "sigma_min"));
  ASSIGN_OR_RETURN(c.sigma_max, OptionalNumber(j, "sigma_max"));
  ASSIGN_OR_RETURN(c.final_sigmas_type, ReadFinalSigmas(k, j));
  return absl::OkStatus();
}

absl::Status ReadEulerAncestral(const nlohmann::json& j, SamplerConfig& c) {
  // diffusers raises NotImplementedError for x0 prediction here.
  if (c.schedule.prediction_type == diffusers::PredictionType::kSample) {
    return Unsupported(c.kind, "prediction_type", j["prediction_type"], "\"epsilon\", \"v_prediction\"");
  }
  return absl::OkStatus();
}

// DDIM and LCM: x0 clipping, the alpha "before" step 0, no dynamic thresholding.
absl::Status ReadDdimFamily(const nlohmann::json& j, SamplerConfig& c, bool clip_sample_default) {
  RETURN_IF_ERROR(RequireOneOf(c.kind, j, "thresholding", {false}));
  ASSIGN_OR_RETURN(c.clip_sample, diffusers::ConfigBool(j, "clip_sample", clip_sample_default));
  ASSIGN_OR_RETURN(c.clip_sample_range, diffusers::ConfigNumber(j, "clip_sample_range", 1.0));
  ASSIGN_OR_RETURN(c.set_alpha_to_one, diffusers::ConfigBool(j, "set_alpha_to_one", true));
  return absl::OkStatus();
}

absl::Status ReadDpmSolver(const nlohmann::json& j, SamplerConfig& c) {
  const SamplerKind k = c.kind;
  RETURN_IF_ERROR(RequireOneOf(k, j, "algorithm_type", {"dpmsolver++"}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "thresholding", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_exponential_sigmas", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_beta_sigmas", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_lu_lambdas", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_flow_sigmas", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "use_dynamic_shifting", {false}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "variance_type", {}));  // only null: no learned variance channels
  RETURN_IF_ERROR(RequireOneOf(k, j, "lambda_min_clipped", {"-Infinity"}));
  RETURN_IF_ERROR(RequireOneOf(k, j, "solver_order", {1, 2}));
  ASSIGN_OR_RETURN(double order, diffusers::ConfigNumber(j, "solver_order", 2));
  c.solver_order = static_cast<int>(order);
  RETURN_IF_ERROR(RequireOneOf(k, j, "solver_type", {"midpoint", "heun"}));
  ASSIGN_OR_RETURN(std::string solver_type, diffusers::ConfigString(j, "solver_type", "midpoint"));
  c.solver_type = solver_type == "heun" ? DpmSolverType::kHeun : DpmSolverType::kMidpoint;
  ASSIGN_OR_RETURN(c.lower_order_final, diffusers::ConfigBool(j, "lower_order_final", true));
  ASSIGN_OR_RETURN(c.euler_at_final, diffusers::ConfigBool(j, "euler_at_final", false));
  ASSIGN_OR_RETURN(c.use_karras_sigmas, diffusers::ConfigBool(j, "use_karras_sigmas", false));
  ASSIGN_OR_RETURN(c.final_sigmas_type, ReadFinalSigmas(k, j));
  return absl::OkStatus();
}

absl::Status ReadLcm(const nlohmann::json& j, SamplerConfig& c) {
  RETURN_IF_ERROR(ReadDdimFamily(j, c, /*clip_sample_default=*/false));
  ASSIGN_OR_RETURN(double original, diffusers::ConfigNumber(j, "original_inference_steps", 50));
  c.original_inference_steps = static_cast<int64_t>(original);
  if (c.original_inference_steps != original || c.original_inference_steps < 1 ||
      c.original_inference_steps > c.schedule.num_train_timesteps) {
    return absl::InvalidArgumentError(
        "scheduler_config.json: original_inference_steps must be an integer in [1, num_train_timesteps]");
  }
  ASSIGN_OR_RETURN(c.timestep_scaling, diffusers::ConfigNumber(j, "timestep_scaling", 10.0));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SamplerKind> SamplerKindFromName(const std::string& name) {
  if (name == "EulerDiscreteScheduler" || name == "euler") return SamplerKind::kEuler;
  if (name == "EulerAncestralDiscreteScheduler" || name == "euler-ancestral") return SamplerKind::kEulerAncestral;
  if (name == "DDIMScheduler" || name == "ddim") return SamplerKind::kDdim;
  if (name == "DPMSolverMultistepScheduler" || name == "dpmpp-2m") return SamplerKind::kDpmSolverMultistep;
  if (name == "LCMScheduler" || name == "lcm") return SamplerKind::kLcm;
  return absl::InvalidArgumentError(absl::StrCat(
      "sampler '", name,
      "' is not supported (EulerDiscreteScheduler/euler, EulerAncestralDiscreteScheduler/euler-ancestral, "
      "DDIMScheduler/ddim, DPMSolverMultistepScheduler/dpmpp-2m, LCMScheduler/lcm)"));
}

std::string SamplerClassName(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kEuler: return "EulerDiscreteScheduler";
    case SamplerKind::kEulerAncestral: return "EulerAncestralDiscreteScheduler";
    case SamplerKind::kDdim: return "DDIMScheduler";
    case SamplerKind::kDpmSolverMultistep: return "DPMSolverMultistepScheduler";
    case SamplerKind::kLcm: return "LCMScheduler";
  }
  return "unknown";
}

absl::StatusOr<SamplerConfig> ParseSamplerConfig(const std::string& json_text, const std::string& sampler) {
  ASSIGN_OR_RETURN(nlohmann::json j, diffusers::ParseDiffusersConfigJson(json_text));
  SamplerConfig c;
  ASSIGN_OR_RETURN(c.schedule, diffusers::SchedulerConfigFromJson(j));
  const std::string name = sampler.empty() ? c.schedule.class_name : sampler;
  if (name.empty()) {
    return absl::InvalidArgumentError("scheduler_config.json has no _class_name: name the sampler to use");
  }
  ASSIGN_OR_RETURN(c.kind, SamplerKindFromName(name));
  // diffusers' per-class default spacing when the file does not say.
  const bool leading_by_default = c.kind == SamplerKind::kDdim || c.kind == SamplerKind::kLcm;
  c.timestep_spacing = c.schedule.timestep_spacing.value_or(leading_by_default ? diffusers::TimestepSpacing::kLeading
                                                                               : diffusers::TimestepSpacing::kLinspace);
  switch (c.kind) {
    case SamplerKind::kEuler: RETURN_IF_ERROR(ReadEuler(j, c)); break;
    case SamplerKind::kEulerAncestral: RETURN_IF_ERROR(ReadEulerAncestral(j, c)); break;
    case SamplerKind::kDdim: RETURN_IF_ERROR(ReadDdimFamily(j, c, /*clip_sample_default=*/true)); break;
    case SamplerKind::kDpmSolverMultistep: RETURN_IF_ERROR(ReadDpmSolver(j, c)); break;
    case SamplerKind::kLcm: RETURN_IF_ERROR(ReadLcm(j, c)); break;
  }
  return c;
}

absl::StatusOr<SamplerConfig> LoadSamplerConfig(const std::string& path, const std::string& sampler) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) {
    file = diffusers::ModelFolder(path).SchedulerConfigPath();
    if (!std::filesystem::exists(file)) file = diffusers::SchedulerConfigPath(path);
  }
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  absl::StatusOr<SamplerConfig> config = ParseSamplerConfig(text, sampler);
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat(file, ": ", config.status().message()));
  return config;
}

}  // namespace align::sampling
