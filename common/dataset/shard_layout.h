#pragma once
// The tensors of one shard and their per-pair shapes: the single table the
// writer lays shards out by and the reader validates them against.

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/dataset/manifest.h"
#include "common/dataset/pair_batch.h"

namespace align::data {

inline constexpr absl::string_view kPairIdTensor = "pair_id";  // I64 [n]

struct FloatTensorSpec {
  absl::string_view name;
  std::vector<int64_t> row_shape;        // the shape without the leading pair dimension
  std::vector<float> PairBatch::*field;  // where the reader puts it
};

// The floating tensors of a shard, in file order; optional ones only when the
// manifest declares them. With crop_variants K > 1, every per-image latent
// tensor X and time_ids also have `crop_X` with row shape [K - 1, ...]: the
// pair's crops 1 .. K-1 (crop 0 is X itself).
std::vector<FloatTensorSpec> FloatTensors(const PairShape& shape, bool has_difficulty, bool has_scores,
                                          bool has_flipped_latents = false, bool has_latent_logvar = false,
                                          int64_t crop_variants = 1);
// The same for `manifest`'s flags.
std::vector<FloatTensorSpec> FloatTensors(const Manifest& manifest);

// The prefix of the crop variants' tensors.
inline constexpr absl::string_view kCropTensorPrefix = "crop_";

// Every tensor name a shard may contain, for "unknown tensor" messages.
std::vector<absl::string_view> AllTensorNames();

inline int64_t RowNumel(const FloatTensorSpec& spec) {
  int64_t n = 1;
  for (int64_t d : spec.row_shape) n *= d;
  return n;
}

}  // namespace align::data
