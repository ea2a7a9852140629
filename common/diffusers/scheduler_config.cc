#include "common/diffusers/scheduler_config.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::diffusers {
namespace {

// Python's json writes float('inf') as a bare Infinity; JSON has no such
// token. Outside strings, rewrite the three non-finite literals as strings
// ConfigNumber reads back, so that the rest of the file parses unchanged.
std::string QuoteNonFiniteLiterals(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const char* literal : {"-Infinity", "Infinity", "NaN"}) {
      const std::string word(literal);
      if (text.compare(i, word.size(), word) == 0) {
        out += "\"" + word + "\"";
        i += word.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

absl::Status FieldError(const char* key, const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: ", key, " must be ", what));
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseDiffusersConfigJson(const std::string& json_text) {
  nlohmann::json j = nlohmann::json::parse(QuoteNonFiniteLiterals(json_text), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("scheduler_config.json: not a JSON object");
  }
  return j;
}

absl::StatusOr<double> ConfigNumber(const nlohmann::json& j, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const nlohmann::json& v = j[key];
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  return FieldError(key, "a number");
}

absl::StatusOr<std::string> ConfigString(const nlohmann::json& j, const char* key, const char* fallback) {
  if (!j.contains(key) || j[key].is_null()) return std::string(fallback);
  if (!j[key].is_string()) return FieldError(key, "a string");
  return j[key].get<std::string>();
}

absl::StatusOr<bool> ConfigBool(const nlohmann::json& j, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) return FieldError(key, "true or false");
  return j[key].get<bool>();
}

absl::StatusOr<SchedulerConfig> SchedulerConfigFromJson(const nlohmann::json& j) {
  SchedulerConfig c;
  ASSIGN_OR_RETURN(double steps, ConfigNumber(j, "num_train_timesteps", 1000));
  c.num_train_timesteps = static_cast<int64_t>(steps);
  if (c.num_train_timesteps < 2 || c.num_train_timesteps != steps) {
    return absl::InvalidArgumentError("scheduler_config.json: num_train_timesteps must be an integer >= 2");
  }
  ASSIGN_OR_RETURN(c.beta_start, ConfigNumber(j, "beta_start", 0.0001));
  ASSIGN_OR_RETURN(c.beta_end, ConfigNumber(j, "beta_end", 0.02));
  if (!(c.beta_start > 0 && c.beta_end > 0 && c.beta_start < 1 && c.beta_end < 1)) {
    return absl::InvalidArgumentError("scheduler_config.json: beta_start and beta_end must lie in (0, 1)");
  }
  ASSIGN_OR_RETURN(std::string schedule, ConfigString(j, "beta_schedule", "linear"));
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
  ASSIGN_OR_RETURN(std::string prediction, ConfigString(j, "prediction_type", "epsilon"));
  if (prediction == "epsilon") {
    c.prediction_type = PredictionType::kEpsilon;
  } else if (prediction == "v_prediction") {
    c.prediction_type = PredictionType::kVPrediction;
  } else if (prediction == "sample") {
    c.prediction_type = PredictionType::kSample;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: prediction_type '", prediction,
                                                   "' is not supported (epsilon, v_prediction, sample)"));
  }
  ASSIGN_OR_RETURN(c.class_name, ConfigString(j, "_class_name", ""));
  if (j.contains("timestep_spacing") && !j["timestep_spacing"].is_null()) {
    ASSIGN_OR_RETURN(std::string spacing, ConfigString(j, "timestep_spacing", ""));
    if (spacing == "linspace") {
      c.timestep_spacing = TimestepSpacing::kLinspace;
    } else if (spacing == "leading") {
      c.timestep_spacing = TimestepSpacing::kLeading;
    } else if (spacing == "trailing") {
      c.timestep_spacing = TimestepSpacing::kTrailing;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("scheduler_config.json: timestep_spacing '", spacing,
                                                     "' is not supported (linspace, leading, trailing)"));
    }
  }
  ASSIGN_OR_RETURN(double offset, ConfigNumber(j, "steps_offset", 0));
  c.steps_offset = static_cast<int64_t>(offset);
  if (c.steps_offset != offset || c.steps_offset < 0) {
    return absl::InvalidArgumentError("scheduler_config.json: steps_offset must be an integer >= 0");
  }
  ASSIGN_OR_RETURN(c.rescale_betas_zero_snr, ConfigBool(j, "rescale_betas_zero_snr", false));
  return c;
}

absl::StatusOr<SchedulerConfig> ParseSchedulerConfig(const std::string& json_text) {
  ASSIGN_OR_RETURN(nlohmann::json j, ParseDiffusersConfigJson(json_text));
  ASSIGN_OR_RETURN(SchedulerConfig c, SchedulerConfigFromJson(j));
  if (c.prediction_type == PredictionType::kSample) {
    return absl::InvalidArgumentError(
        "scheduler_config.json: prediction_type 'sample' is not supported for training (epsilon, v_prediction)");
  }
  if (c.rescale_betas_zero_snr) {
    return absl::InvalidArgumentError("scheduler_config.json: rescale_betas_zero_snr is not supported for training");
  }
  return c;
}

absl::StatusOr<SchedulerConfig> LoadSchedulerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  absl::StatusOr<SchedulerConfig> config = ParseSchedulerConfig(text);
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  return config;
}

}  // namespace align::diffusers
