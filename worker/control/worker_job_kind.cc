#include "worker/control/worker_job_kind.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace align::control {

absl::Status WorkerJobKinds::Register(std::unique_ptr<const WorkerJobKind> kind) {
  const JobType type = kind->type();
  if (kinds_.count(type) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("a worker kind for job type ", JobTypeName(type), " is registered"));
  }
  kinds_[type] = std::move(kind);
  return absl::OkStatus();
}

absl::StatusOr<const WorkerJobKind*> WorkerJobKinds::Find(JobType type) const {
  auto it = kinds_.find(type);
  if (it == kinds_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("type: this worker runs no ", JobTypeName(type), " jobs (align-worker is older than the spec?)"));
  }
  return it->second.get();
}

}  // namespace align::control
