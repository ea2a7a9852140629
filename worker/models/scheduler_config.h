#pragma once
// The training noise schedule's settings from a diffusers
// scheduler/scheduler_config.json. The reference training scripts build a
// DDPMScheduler from this file whatever its _class_name (SDXL ships an
// EulerDiscreteScheduler config); only the fields that define the forward
// (noising) process are read, the sampler-specific ones are ignored.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::models {

enum class BetaSchedule { kLinear, kScaledLinear };
enum class PredictionType { kEpsilon, kVPrediction };

struct SchedulerConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::kLinear;
  std::vector<double> trained_betas;  // overrides the schedule when non-empty
  PredictionType prediction_type = PredictionType::kEpsilon;
};

absl::StatusOr<SchedulerConfig> ParseSchedulerConfig(const std::string& json_text);
absl::StatusOr<SchedulerConfig> LoadSchedulerConfig(const std::string& path);

}  // namespace align::models
