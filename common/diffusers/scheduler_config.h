#pragma once
// The noise schedule's settings from a diffusers scheduler/scheduler_config.json.
// The reference training scripts build a DDPMScheduler from this file whatever
// its _class_name (SDXL ships an EulerDiscreteScheduler config): training reads
// the fields that define the forward (noising) process. The inference samplers
// (worker/sampling/) read the same fields through the same parser, plus the
// fields every diffusers scheduler shares (timestep spacing, steps offset,
// zero-terminal-SNR rescaling), and their own options on top.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace align::diffusers {

enum class BetaSchedule { kLinear, kScaledLinear };
// kSample: the model predicts x0 directly (diffusers' "sample"); samplers only.
enum class PredictionType { kEpsilon, kVPrediction, kSample };
enum class TimestepSpacing { kLinspace, kLeading, kTrailing };

struct SchedulerConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::kLinear;
  std::vector<double> trained_betas;  // overrides the schedule when non-empty
  PredictionType prediction_type = PredictionType::kEpsilon;

  // Read for the samplers; training ignores them (and rejects zero-SNR rescaling).
  std::string class_name;                          // "_class_name"; empty when absent
  std::optional<TimestepSpacing> timestep_spacing;  // absent: the sampler class's default
  int64_t steps_offset = 0;
  bool rescale_betas_zero_snr = false;
};

// Parses a diffusers config file: JSON plus the bare Infinity, -Infinity and
// NaN that Python's json module writes (e.g. "lambda_min_clipped": -Infinity).
absl::StatusOr<nlohmann::json> ParseDiffusersConfigJson(const std::string& json_text);

// Typed readers of one field of a diffusers config; `fallback` when the key is
// absent or null. Errors name the key.
absl::StatusOr<double> ConfigNumber(const nlohmann::json& config, const char* key, double fallback);
absl::StatusOr<std::string> ConfigString(const nlohmann::json& config, const char* key, const char* fallback);
absl::StatusOr<bool> ConfigBool(const nlohmann::json& config, const char* key, bool fallback);

// The shared fields, accepting every value some sampler supports.
absl::StatusOr<SchedulerConfig> SchedulerConfigFromJson(const nlohmann::json& config);

// For training: the shared fields, rejecting what the training forward
// process does not implement (prediction_type sample, rescale_betas_zero_snr).
absl::StatusOr<SchedulerConfig> ParseSchedulerConfig(const std::string& json_text);
absl::StatusOr<SchedulerConfig> LoadSchedulerConfig(const std::string& path);

}  // namespace align::diffusers
