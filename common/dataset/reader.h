#pragma once
// Reads one split of a prepared dataset. Every shard's header is read and its
// tensors checked against the manifest when the reader opens, so a bad
// dataset fails at the start of a job, not hours into it; values are checked
// (finite) as they are read. Rows are read from the files on disk (pread), so
// a shard truncated or replaced during a job is an error naming it, never a
// SIGBUS.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "common/dataset/pair_batch.h"
#include "common/safetensors/reader.h"

namespace align::data {

class PairReader {
 public:
  static absl::StatusOr<std::unique_ptr<PairReader>> Open(const std::string& dir, const std::string& split);

  const PairShape& shape() const { return manifest_.shape; }
  int64_t num_pairs() const { return num_pairs_; }
  const Manifest& manifest() const { return manifest_; }
  const std::string& split() const { return split_; }

  // The pairs at `indices` (global indices within the split, any order,
  // repeats allowed), in that order. Thread-safe: the reader is immutable after
  // Open. OutOfRange for a bad index; DataLoss naming the shard, tensor and pair
  // id for a non-finite value, and naming the shard when it was truncated or
  // replaced since Open.
  absl::StatusOr<PairBatch> Read(const std::vector<int64_t>& indices) const;

  // Every pair's difficulty in split order; FailedPrecondition when the
  // dataset has none.
  absl::StatusOr<std::vector<float>> Difficulties() const;
  // Any per-pair scalar (`difficulty`, `score_w`, `score_l`) in split order;
  // FailedPrecondition when the manifest does not declare it.
  absl::StatusOr<std::vector<float>> PerPairValues(const std::string& name) const;
  // Every pair's id in split order.
  std::vector<int64_t> PairIds() const;

 private:
  struct Shard {
    std::string file;
    std::unique_ptr<safetensors::File> mapped;
    int64_t first = 0;  // global index of its first pair
    int64_t pairs = 0;
    std::vector<safetensors::TensorView> floats;  // in FloatTensors() order
    std::vector<int64_t> pair_ids;  // read once at Open
  };

  PairReader() = default;
  absl::Status OpenShard(const std::string& dir, const ShardEntry& entry, int64_t first);
  const Shard& ShardOf(int64_t index) const;
  int64_t PairIdAt(const Shard& shard, int64_t row) const;

  Manifest manifest_;
  std::string split_;
  int64_t num_pairs_ = 0;
  std::vector<Shard> shards_;
};

}  // namespace align::data
