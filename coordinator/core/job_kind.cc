#include "coordinator/core/job_kind.h"

#include "absl/strings/str_cat.h"

namespace align::coordinator {

absl::StatusOr<WorkProgress> JobRun::ChunkDone(int /*rank*/, int64_t /*position*/, int64_t /*pairs*/,
                                               int64_t /*failed_items*/) {
  return absl::InvalidArgumentError(absl::StrCat("chunk_done: ", job_id_, " has no work chunks"));
}

absl::Status JobKind::CheckSubmitted(const JobSpec& /*resolved*/) const { return absl::OkStatus(); }

}  // namespace align::coordinator
