#pragma once
// Writes a prepared dataset: pairs are buffered per split and flushed as
// safetensors shards of `pairs_per_shard` pairs; Finish() writes manifest.json
// last (atomically), so a directory without a manifest is never mistaken for a
// complete dataset.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/dataset/manifest.h"
#include "common/dataset/pair_record.h"
#include "common/dataset/shard_builder.h"
#include "common/safetensors/dtype.h"
#include "nlohmann/json.hpp"

namespace align::data {

struct WriterOptions {
  int64_t pairs_per_shard = 256;
  // Storage type of the floating tensors (F32, F16 or BF16); readers always get float.
  safetensors::DType float_dtype = safetensors::DType::kF32;
  bool has_difficulty = false;
  bool has_scores = false;
  // Splits listed in the manifest even when no pair is added to them.
  std::vector<std::string> splits = {"train", "heldout"};
  // Replace a dataset already in the directory (its manifest is removed first,
  // then its shards), instead of failing with AlreadyExists.
  bool overwrite = false;
  nlohmann::json source = nlohmann::json::object();
};

class DatasetWriter {
 public:
  // Creates `dir` if needed.
  static absl::StatusOr<std::unique_ptr<DatasetWriter>> Open(const std::string& dir, const PairShape& shape,
                                                             WriterOptions options);

  // Appends one pair to `split`; its global index in the split is the number of
  // pairs added to the split before it. Rejects wrong sizes, non-finite values
  // and repeated pair ids, naming the pair id.
  absl::Status Add(const std::string& split, const PairRecord& pair);

  // Flushes partial shards and writes manifest.json. Nothing may be added after.
  absl::StatusOr<Manifest> Finish();

  const std::string& dir() const { return dir_; }

 private:
  struct PendingSplit {
    SplitEntry entry;
    ShardBuilder shard;  // the pairs of the shard being filled
  };

  DatasetWriter(std::string dir, const PairShape& shape, WriterOptions options);
  PendingSplit& SplitNamed(const std::string& name);
  absl::Status Flush(const std::string& name, PendingSplit& split);

  std::string dir_;
  WriterOptions options_;
  Manifest manifest_;
  std::map<std::string, PendingSplit> splits_;
  std::set<int64_t> pair_ids_;
  bool finished_ = false;
};

}  // namespace align::data
