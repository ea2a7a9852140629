#include "common/run_fingerprint.h"

#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace align {

void Fingerprint::AddDouble(double v) {
  uint64_t bits = 0;
  static_assert(sizeof bits == sizeof v);
  std::memcpy(&bits, &v, sizeof bits);
  Add(bits);
}

bool RunFingerprintMatches(const std::string& state_dir, uint64_t fingerprint) {
  absl::StatusOr<std::string> text = ReadFileToString(absl::StrCat(state_dir, "/plan.json"));
  if (!text.ok()) return false;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  return !j.is_discarded() && j.is_object() && j.value("fingerprint", "") == absl::StrFormat("%016x", fingerprint);
}

absl::Status CheckOrWriteRunFingerprint(const std::string& state_dir, uint64_t fingerprint,
                                        absl::string_view job_type, const nlohmann::json& summary) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", state_dir, ": ", ec.message()));
  const std::string path = absl::StrCat(state_dir, "/plan.json");
  const std::string hex = absl::StrFormat("%016x", fingerprint);
  absl::StatusOr<std::string> existing = ReadFileToString(path);
  if (existing.ok()) {
    const nlohmann::json j = nlohmann::json::parse(*existing, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("fingerprint", "") == hex) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        path, " belongs to a ", job_type, " run with different input or options; resume it with the same spec, or "
        "remove ", state_dir, " (and the partial output) to start over"));
  }
  nlohmann::json j = summary.is_object() ? summary : nlohmann::json::object();
  j["fingerprint"] = hex;
  return WriteFileAtomically(path, j.dump(1) + "\n");
}

}  // namespace align
