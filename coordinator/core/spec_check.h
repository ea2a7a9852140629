#pragma once
// What the coordinator checks before it queues a job: the spec itself
// (ParseJobSpec: every field), then the paths it names, as seen from the
// coordinator's machine, which shares storage with the workers. A job that
// would fail on its first step is refused at submit time instead. Every error
// is InvalidArgument and starts with the field at fault.

#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind_registry.h"

namespace align::coordinator {

struct SpecCheckOptions {
  // Off when the coordinator does not see the workers' storage.
  bool check_paths = true;
  size_t max_spec_bytes = spec_limits::kMaxSpecBytes;
};

// `base_dir` (absolute, or empty for the coordinator's working directory) is
// where relative model/dataset/output paths start.
// With check_paths, the job's kind (from `kinds`, default the built-in ones)
// checks the paths its work needs (JobKind::CheckSubmitted), and the output
// directory is checked for every kind.
absl::StatusOr<JobSpec> CheckSubmittedSpec(const std::string& spec_yaml, const std::string& base_dir,
                                           const SpecCheckOptions& options = {},
                                           const JobKindRegistry* kinds = nullptr);
// CheckSubmittedSpec in parts, for a submission of several specs: the text's
// size and base_dir, before it is parsed; then the paths of the parsed spec.
absl::Status CheckSubmittedText(const std::string& spec_yaml, const std::string& base_dir,
                                const SpecCheckOptions& options = {});
// A job that waits for others (`after:`) has only its output directory
// checked here: its inputs may be what those jobs write, so its kind checks
// them when it is released (SchedulerOptions::check_released_paths).
absl::Status CheckSubmittedPaths(const JobSpec& spec, const std::string& base_dir,
                                 const SpecCheckOptions& options = {}, const JobKindRegistry* kinds = nullptr);

// `path` resolved against `base_dir` when relative.
std::string ResolveSpecPath(const std::string& path, const std::string& base_dir);

}  // namespace align::coordinator
