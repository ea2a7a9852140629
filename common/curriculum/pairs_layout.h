#pragma once
// What a pairs job computes from its spec alone, identically on the
// coordinator and every rank: the pairs (pair_builder.h over the score job's
// scores, joined to the generate job's index by sample id), the work plan
// (pairs split into train / held-out, cut into chunks of pairs_per_shard:
// chunk k of a split is shard `<split>-<k>` of the dataset, as prepare's plan),
// and the fingerprint that guards resumption (`<output>/pairs-state/`).
// Chunk records are prepare's ChunkRecord, so the manifest is assembled the
// same way from them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/curriculum/generate_layout.h"
#include "common/curriculum/pair_builder.h"
#include "common/dataset/manifest.h"
#include "common/job_spec.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/work_split.h"

namespace align::curriculum {

inline constexpr char kPairsStateDir[] = "pairs-state";

struct PairsLayout {
  std::string generated;  // the generate job's output
  std::string dataset;
  std::string state_dir;  // <output>/pairs-state
  std::vector<PlannedPair> pairs;
  prepare::WorkPlan plan;  // WorkChunk::items are pair ids
  std::map<int64_t, GeneratedIndexRow> by_sample_id;
  std::map<int64_t, std::string> latents_of_prompt;  // prompt index -> latents file holding its embeddings
  int64_t prompts = 0;
  uint64_t fingerprint = 0;
};

// `resolved`: a pairs job with its paths resolved. Errors name the input at
// fault: a generate or score output that is not finished, a score row whose
// sample the generate index does not know, a prompt with fewer than two
// scored images, non-finite scores, or no pair at all.
absl::StatusOr<PairsLayout> LayOutPairsJob(const JobSpec& resolved);

// Writes chunk `chunk`'s shard into the dataset (its pairs' latents and text
// conditioning copied from the generate job's latents files; difficulty and
// both scores from the plan) and returns its record (not yet written).
absl::StatusOr<prepare::ChunkRecord> WritePairsChunk(const PairsLayout& layout, const prepare::WorkChunk& chunk,
                                                     ShardDtype dtype);

// The record of a finished chunk (record present, shard in the dataset); nullopt otherwise.
std::optional<prepare::ChunkRecord> FinishedPairsChunk(const PairsLayout& layout, const prepare::WorkChunk& chunk);

// Every chunk finished: the dataset's manifest (difficulty and scores on),
// written last. FailedPrecondition naming a chunk without a record.
absl::StatusOr<data::Manifest> FinishPairsDataset(const JobSpec& resolved, const PairsLayout& layout);

}  // namespace align::curriculum
