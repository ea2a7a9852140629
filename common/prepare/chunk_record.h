#pragma once
// What became of one work chunk, written atomically to
// `<output>/prepare-state/<split>-<k>.json` after its shard has been renamed
// into place. A chunk with a record is finished: a resumed job skips it, and
// the final report and manifest are assembled from the records alone.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "common/prepare/input_index.h"
#include "common/prepare/work_split.h"

namespace align::prepare {

inline constexpr char kStateDir[] = "prepare-state";

struct ChunkRecord {
  std::string split;
  int64_t index = 0;
  int64_t items = 0;                  // items in the chunk
  int64_t pairs = 0;                  // pairs written to its shard
  std::string shard;                  // file name in the dataset; empty when pairs == 0
  std::vector<ItemProblem> problems;  // items that failed, by id
  int64_t captions_truncated = 0;     // captions longer than the tokenizer's 77 tokens
  double seconds = 0;                 // wall time to prepare the chunk
  // The shape of the shard's tensors (absent when pairs == 0), so whoever
  // writes the manifest (rank 0, or the coordinator, which loads no model)
  // needs nothing but the records.
  std::optional<data::PairShape> shape;
};

std::string SerializeChunkRecord(const ChunkRecord& record);
absl::StatusOr<ChunkRecord> ParseChunkRecord(const std::string& text, const std::string& what);

// `state_dir` is `<output>/prepare-state`.
absl::Status WriteChunkRecord(const std::string& state_dir, const ChunkRecord& record);
// nullopt when the chunk has no (readable, matching) record: it must be prepared.
std::optional<ChunkRecord> ReadChunkRecord(const std::string& state_dir, const WorkChunk& chunk);

}  // namespace align::prepare
