#pragma once
// One `type: prepare` job on `world` ranks (docs/data-preparation.md): every
// rank indexes the input and computes the same work plan, prepares its own
// contiguous share of chunks (one shard each, renamed into place, then a
// record), skipping chunks that already have records; after `barrier`, rank 0
// assembles the report and, unless the error ratio is too high, the manifest.
// MPI stays outside: the caller supplies rank, world and the barrier.

#include <functional>
#include <ostream>

#include "absl/status/status.h"
#include "common/job_spec.h"

namespace align::prepare {

struct PrepareContext {
  int rank = 0;
  int world = 1;
  std::function<void()> barrier = [] {};
  std::ostream* out = nullptr;  // progress (rank 0 prints the summary)
};

// FailedPrecondition when the error ratio exceeds max_error_ratio (the message
// lists the first failures); other codes for unusable input, models or disks.
absl::Status RunPrepareJob(const JobSpec& spec, const PrepareContext& context);

}  // namespace align::prepare
