#include "coordinator/core/spec_check.h"

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/core/job_kind.h"
#include "coordinator/core/storage_checks.h"

namespace align::coordinator {

namespace fs = std::filesystem;

namespace {

absl::Status FieldError(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

}  // namespace

std::string ResolveSpecPath(const std::string& path, const std::string& base_dir) {
  return ResolveJobPath(path, base_dir);
}

absl::Status CheckSubmittedText(const std::string& spec_yaml, const std::string& base_dir,
                                const SpecCheckOptions& options) {
  if (spec_yaml.size() > options.max_spec_bytes) {
    return FieldError("spec_yaml", absl::StrCat("the spec is ", spec_yaml.size(), " bytes; at most ",
                                                options.max_spec_bytes, " are accepted"));
  }
  if (!base_dir.empty() && !fs::path(base_dir).is_absolute()) {
    return FieldError("base_dir", absl::StrCat("must be an absolute path, got \"", base_dir, "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckSubmittedPaths(const JobSpec& spec, const std::string& base_dir, const SpecCheckOptions& options,
                                 const JobKindRegistry* kinds) {
  if (!options.check_paths) return absl::OkStatus();
  ASSIGN_OR_RETURN(const JobKind* kind, (kinds != nullptr ? kinds : &BuiltInJobKinds())->Find(spec.type));
  const JobSpec resolved = ResolveJobPaths(spec, base_dir);
  if (spec.after.empty()) RETURN_IF_ERROR(kind->CheckSubmitted(resolved));
  return CheckOutputDirectory(resolved.output, "output");
}

absl::StatusOr<JobSpec> CheckSubmittedSpec(const std::string& spec_yaml, const std::string& base_dir,
                                           const SpecCheckOptions& options, const JobKindRegistry* kinds) {
  RETURN_IF_ERROR(CheckSubmittedText(spec_yaml, base_dir, options));
  ASSIGN_OR_RETURN(JobSpec spec, ParseJobSpec(spec_yaml));
  RETURN_IF_ERROR(CheckSubmittedPaths(spec, base_dir, options, kinds));
  return spec;
}

}  // namespace align::coordinator
