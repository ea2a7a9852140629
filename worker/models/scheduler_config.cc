#include "worker/models/scheduler_config.h"

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::models {

absl::StatusOr<SchedulerConfig> ParseSchedulerConfig(const std::string& json_text) {
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("scheduler_config.json: not a JSON object");
  }
  SchedulerConfig c;
  auto number = [&](const char* key, double fallback) -> absl::StatusOr<double> {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: ", key, " must be a number"));
    }
    return j[key].get<double>();
  };
  auto text = [&](const char* key, const char* fallback) -> absl::StatusOr<std::string> {
    if (!j.contains(key) || j[key].is_null()) return std::string(fallback);
    if (!j[key].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: ", key, " must be a string"));
    }
    return j[key].get<std::string>();
  };

  ASSIGN_OR_RETURN(double steps, number("num_train_timesteps", 1000));
  c.num_train_timesteps = static_cast<int64_t>(steps);
  if (c.num_train_timesteps < 2 || c.num_train_timesteps != steps) {
    return absl::InvalidArgumentError("scheduler_config.json: num_train_timesteps must be an integer >= 2");
  }
  ASSIGN_OR_RETURN(c.beta_start, number("beta_start", 0.0001));
  ASSIGN_OR_RETURN(c.beta_end, number("beta_end", 0.02));
  if (!(c.beta_start > 0 && c.beta_end > 0 && c.beta_start < 1 && c.beta_end < 1)) {
    return absl::InvalidArgumentError("scheduler_config.json: beta_start and beta_end must lie in (0, 1)");
  }
  ASSIGN_OR_RETURN(std::string schedule, text("beta_schedule", "linear"));
  if (schedule == "linear") {
    c.beta_schedule = BetaSchedule::kLinear;
  } else if (schedule == "scaled_linear") {
    c.beta_schedule = BetaSchedule::kScaledLinear;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler_config.json: beta_schedule '", schedule, "' is not supported (linear, scaled_linear)"));
  }
  if (j.contains("trained_betas") && !j["trained_betas"].is_null()) {
    if (!j["trained_betas"].is_array() ||
        j["trained_betas"].size() != static_cast<size_t>(c.num_train_timesteps)) {
      return absl::InvalidArgumentError(
          "scheduler_config.json: trained_betas must list num_train_timesteps numbers");
    }
    for (const auto& b : j["trained_betas"]) {
      if (!b.is_number()) return absl::InvalidArgumentError("scheduler_config.json: trained_betas must be numbers");
      c.trained_betas.push_back(b.get<double>());
    }
  }
  ASSIGN_OR_RETURN(std::string prediction, text("prediction_type", "epsilon"));
  if (prediction == "epsilon") {
    c.prediction_type = PredictionType::kEpsilon;
  } else if (prediction == "v_prediction") {
    c.prediction_type = PredictionType::kVPrediction;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: prediction_type '", prediction,
                                                   "' is not supported (epsilon, v_prediction)"));
  }
  if (j.value("rescale_betas_zero_snr", false) == true) {
    return absl::InvalidArgumentError("scheduler_config.json: rescale_betas_zero_snr is not supported");
  }
  return c;
}

absl::StatusOr<SchedulerConfig> LoadSchedulerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  absl::StatusOr<SchedulerConfig> config = ParseSchedulerConfig(text);
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  return config;
}

}  // namespace align::models
