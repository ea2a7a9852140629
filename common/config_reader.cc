#include "common/config_reader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace align {

absl::StatusOr<ConfigReader> ConfigReader::Parse(const std::string& json_text, std::string what) {
  nlohmann::json json = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(what, ": not valid JSON"));
  if (!json.is_object()) return absl::InvalidArgumentError(absl::StrCat(what, ": not a JSON object"));
  return ConfigReader(std::move(json), std::move(what));
}

const nlohmann::json* ConfigReader::Take(const std::string& key) {
  consumed_.insert(key);
  auto it = json_.find(key);
  if (it == json_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigReader::TypeError(const std::string& key, const char* expected) {
  Fail(absl::StrCat("option '", key, "' must be ", expected, ", got ", json_[key].dump()));
}

void ConfigReader::Fail(const std::string& message) {
  if (first_error_.empty()) first_error_ = message;
}

bool ConfigReader::Has(const std::string& key) const {
  auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

int64_t ConfigReader::Int(const std::string& key, int64_t fallback) {
  const nlohmann::json* v = Take(key);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer()) {
    TypeError(key, "an integer");
    return fallback;
  }
  return v->get<int64_t>();
}

double ConfigReader::Double(const std::string& key, double fallback) {
  const nlohmann::json* v = Take(key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) {
    TypeError(key, "a number");
    return fallback;
  }
  return v->get<double>();
}

bool ConfigReader::Bool(const std::string& key, bool fallback) {
  const nlohmann::json* v = Take(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) {
    TypeError(key, "true or false");
    return fallback;
  }
  return v->get<bool>();
}

std::string ConfigReader::String(const std::string& key, const std::string& fallback) {
  const nlohmann::json* v = Take(key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) {
    TypeError(key, "a string");
    return fallback;
  }
  return v->get<std::string>();
}

std::vector<int64_t> ConfigReader::IntOrList(const std::string& key, size_t count, int64_t fallback) {
  const nlohmann::json* v = Take(key);
  if (v == nullptr) return std::vector<int64_t>(count, fallback);
  if (v->is_number_integer()) return std::vector<int64_t>(count, v->get<int64_t>());
  if (!v->is_array() || v->size() != count) {
    TypeError(key, absl::StrCat("an integer or a list of ", count, " integers").c_str());
    return std::vector<int64_t>(count, fallback);
  }
  std::vector<int64_t> out;
  for (const auto& item : *v) {
    if (!item.is_number_integer()) {
      TypeError(key, absl::StrCat("an integer or a list of ", count, " integers").c_str());
      return std::vector<int64_t>(count, fallback);
    }
    out.push_back(item.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> ConfigReader::IntList(const std::string& key) {
  const nlohmann::json* v = Take(key);
  std::vector<int64_t> out;
  if (v == nullptr) return out;
  if (!v->is_array()) {
    TypeError(key, "a list of integers");
    return out;
  }
  for (const auto& item : *v) {
    if (!item.is_number_integer()) {
      TypeError(key, "a list of integers");
      return {};
    }
    out.push_back(item.get<int64_t>());
  }
  return out;
}

std::vector<std::string> ConfigReader::StringList(const std::string& key) {
  const nlohmann::json* v = Take(key);
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->is_array()) {
    TypeError(key, "a list of strings");
    return out;
  }
  for (const auto& item : *v) {
    if (!item.is_string()) {
      TypeError(key, "a list of strings");
      return {};
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

void ConfigReader::Expect(const std::string& key, const nlohmann::json& allowed) {
  ExpectOneOf(key, {allowed});
}

void ConfigReader::ExpectOneOf(const std::string& key, const std::vector<nlohmann::json>& allowed) {
  consumed_.insert(key);
  auto it = json_.find(key);
  if (it == json_.end()) return;
  for (const auto& a : allowed) {
    if (*it == a) return;
  }
  std::vector<std::string> spelled;
  for (const auto& a : allowed) spelled.push_back(a.dump());
  Fail(absl::StrCat("option '", key, "' = ", it->dump(), " is not supported (supported: ",
                    absl::StrJoin(spelled, ", "), ")"));
}

void ConfigReader::Ignore(const std::string& key) { consumed_.insert(key); }

absl::Status ConfigReader::Finish() const {
  if (!first_error_.empty()) return absl::InvalidArgumentError(absl::StrCat(what_, ": ", first_error_));
  std::vector<std::string> unknown;
  for (const auto& [key, value] : json_.items()) {
    if (!key.empty() && key[0] == '_') continue;
    if (consumed_.count(key) == 0) unknown.push_back(key);
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what_, ": unsupported option(s) ", absl::StrJoin(unknown, ", "),
        " (this implementation does not know them; remove them or use a supported model)"));
  }
  return absl::OkStatus();
}

}  // namespace align
