#pragma once
// Reads a model's config.json field by field. Every key must be read, allowed
// to be absent/null, or explicitly ignored: Finish() reports the first type
// error, or every key nobody asked for, so an unsupported option is rejected by
// name instead of silently changing what the model computes.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace align {

class ConfigReader {
 public:
  // `what` names the file in messages, e.g. "unet/config.json".
  static absl::StatusOr<ConfigReader> Parse(const std::string& json_text, std::string what);

  int64_t Int(const std::string& key, int64_t fallback);
  double Double(const std::string& key, double fallback);
  bool Bool(const std::string& key, bool fallback);
  std::string String(const std::string& key, const std::string& fallback);
  bool Has(const std::string& key) const;
  // The raw value (nullptr when absent or null), for options with unusual shapes.
  const nlohmann::json* Value(const std::string& key) { return Take(key); }
  // An int, expanded to `count` copies, or a list of exactly `count` ints.
  std::vector<int64_t> IntOrList(const std::string& key, size_t count, int64_t fallback);
  std::vector<int64_t> IntList(const std::string& key);
  std::vector<std::string> StringList(const std::string& key);

  // The option may be absent or hold exactly `allowed` (e.g. null, false, "silu").
  void Expect(const std::string& key, const nlohmann::json& allowed);
  // The option may be absent or hold one of `allowed`.
  void ExpectOneOf(const std::string& key, const std::vector<nlohmann::json>& allowed);
  // Read but without effect on the computation (e.g. sample_size).
  void Ignore(const std::string& key);
  // Records a semantic error found by the caller.
  void Fail(const std::string& message);

  // OK when every key was consumed (keys starting with '_' are metadata) and no
  // error was recorded.
  absl::Status Finish() const;

 private:
  ConfigReader(nlohmann::json json, std::string what) : json_(std::move(json)), what_(std::move(what)) {}
  const nlohmann::json* Take(const std::string& key);
  void TypeError(const std::string& key, const char* expected);

  nlohmann::json json_;
  std::string what_;
  std::set<std::string> consumed_;
  std::string first_error_;
};

}  // namespace align
