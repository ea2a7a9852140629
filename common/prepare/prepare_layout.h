#pragma once
// What every party to a prepare job computes from its spec alone, and computes
// identically: the input index, the work plan (chunks -> shards), the plan's
// fingerprint and where chunk records live. The coordinator uses it to split
// the work and to finish the dataset; ranks use it to find a chunk's items.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/input_index.h"
#include "common/prepare/work_split.h"

namespace align::prepare {

struct PrepareLayout {
  InputIndex index;
  WorkPlan plan;
  uint64_t fingerprint = 0;
  std::string state_dir;  // <output>/prepare-state
};

// `spec` must be a prepare job with its paths already resolved.
absl::StatusOr<PrepareLayout> LayOutPrepareJob(const JobSpec& spec);

// The record of `chunk` if the chunk is finished: it has a record and, unless
// it wrote no pairs, its shard is in the dataset directory. nullopt: it must
// be prepared.
std::optional<ChunkRecord> FinishedChunkRecord(const JobSpec& spec, const PrepareLayout& layout,
                                               const WorkChunk& chunk);

}  // namespace align::prepare
