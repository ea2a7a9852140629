#pragma once
// What a rank leaves behind for one finished chunk of a prepare job, without
// loading a model: the chunk's shard (constant latents and embeddings, one pair
// per item that did not fail) and its record. For tests of whoever finishes
// the dataset (the coordinator's PrepareWork and scheduler).

#include <cstddef>

#include "absl/status/status.h"
#include "common/dataset/manifest.h"
#include "common/job_spec.h"
#include "common/prepare/prepare_layout.h"

namespace align::testing {

// The chunk's first `failed_items` items are recorded as corrupt images.
absl::Status WriteFinishedChunk(const JobSpec& spec, const prepare::PrepareLayout& layout, size_t position,
                                int failed_items, const data::PairShape& shape);

}  // namespace align::testing
