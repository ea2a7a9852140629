#pragma once
// Which JobKind runs a job of each type (job_kind.h). The coordinator's kinds
// are registered in BuiltInJobKinds(); a new kind of job is a JobKind class
// and one Register line there.

#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class JobKindRegistry {
 public:
  // AlreadyExists when a kind is registered for `kind`'s type.
  absl::Status Register(std::unique_ptr<JobKind> kind);
  // InvalidArgument naming the type when no kind is registered for it.
  absl::StatusOr<const JobKind*> Find(JobType type) const;

 private:
  std::map<JobType, std::unique_ptr<const JobKind>> kinds_;
};

// The kinds this coordinator runs: train and prepare.
const JobKindRegistry& BuiltInJobKinds();

}  // namespace align::coordinator
