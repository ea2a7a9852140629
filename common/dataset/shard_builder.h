#pragma once
// One shard's pairs, validated as they are added and written as one
// safetensors file. DatasetWriter cuts a split into shards with it; writers
// that own one shard each (the ranks of a prepare job, every one writing its
// own files) use it directly and assemble the manifest afterwards
// (manifest_merge.h).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/dataset/manifest.h"
#include "common/dataset/pair_record.h"
#include "common/safetensors/dtype.h"

namespace align::data {

struct ShardOptions {
  safetensors::DType float_dtype = safetensors::DType::kF32;
  bool has_difficulty = false;
  bool has_scores = false;
  bool has_flipped_latents = false;
  bool has_latent_logvar = false;
  int64_t crop_variants = 1;  // > 1: the crop_* tensors (shard_layout.h)
};

class ShardBuilder {
 public:
  ShardBuilder(const PairShape& shape, const ShardOptions& options);

  // Rejects wrong sizes, non-finite values, and optional fields that do not
  // match the options, naming `who` (e.g. "pair id 7 (split train)").
  absl::Status Validate(const PairRecord& pair, const std::string& who) const;
  // Validate, then append. Pair ids are not checked for uniqueness here.
  absl::Status Add(const PairRecord& pair, const std::string& who);

  int64_t size() const { return static_cast<int64_t>(pair_ids_.size()); }
  const std::vector<int64_t>& pair_ids() const { return pair_ids_; }
  // Writes the buffered pairs to `path` atomically (temporary file + rename)
  // with `split` in the metadata. Nothing is written when empty.
  absl::Status Write(const std::string& path, const std::string& split) const;
  void Clear();

 private:
  PairShape shape_;
  ShardOptions options_;
  std::vector<std::vector<float>> floats_;  // one buffer per FloatTensors() entry
  std::vector<int64_t> pair_ids_;
};

}  // namespace align::data
