#pragma once
// One `type: prepare` job on `world` ranks (docs/data-preparation.md): every
// rank indexes the input and computes the same work plan, prepares its share
// of chunks (one shard each, renamed into place, then a record), skipping
// chunks that already have records. Standalone, after `barrier`, rank 0
// assembles the report and, unless the error ratio is too high, the manifest;
// under a coordinator, the coordinator assigns the chunks and finishes.
// MPI stays outside: the caller supplies rank, world and the barrier.

#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <vector>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "common/prepare/chunk_record.h"

namespace align::prepare {

struct PrepareContext {
  int rank = 0;
  int world = 1;
  std::function<void()> barrier = [] {};
  std::ostream* out = nullptr;  // progress (rank 0 prints the summary)

  // Under a coordinator: the coordinator has written the plan state and will
  // write the report and manifest itself; it hands this rank the positions (in
  // WorkPlan::chunks) to prepare. Unset: a standalone job, where each rank
  // takes its ChunksOfPart share and rank 0 finishes the dataset.
  std::optional<std::vector<size_t>> assigned_chunks;
  // After each chunk this rank finished (its record written).
  std::function<void(size_t position, const ChunkRecord& record)> on_chunk_done;
  // Polled between chunks; true ends the job with Cancelled.
  std::function<bool()> should_stop;
};

// FailedPrecondition when the error ratio exceeds max_error_ratio (the message
// lists the first failures); other codes for unusable input, models or disks.
absl::Status RunPrepareJob(const JobSpec& spec, const PrepareContext& context);

}  // namespace align::prepare
