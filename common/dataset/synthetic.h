#pragma once
// A synthetic prepared dataset with a preference a tiny UNet learns in a few
// hundred steps, for demos, tests and benchmarks (alignctl make-synthetic).
//
// Every preferred latent carries a fixed smooth "style" template, every rejected
// one its negation, both on top of per-pair content shared by w and l plus
// small independent noise: x_w = c + s T + n_w, x_l = c - s T + n_l. The
// template strength s varies per pair; difficulty = how weak it is, in [0, 1].

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "common/safetensors/dtype.h"
#include "nlohmann/json.hpp"

namespace align::data {

struct SyntheticOptions {
  PairShape shape;
  int64_t train_pairs = 0;
  int64_t heldout_pairs = 0;
  uint64_t seed = 0;
  int64_t pairs_per_shard = 256;
  safetensors::DType float_dtype = safetensors::DType::kF32;
  bool overwrite = false;
  // Merged into the manifest's `source` (e.g. the model it was shaped for).
  nlohmann::json source = nlohmann::json::object();
};

// Writes train pairs (ids 0..train_pairs-1) then heldout pairs (ids continuing
// after them) into `dir`. Same options => byte-identical files.
absl::StatusOr<Manifest> WriteSyntheticDataset(const std::string& dir, const SyntheticOptions& options);

// The style template, [C, H, W] row-major, RMS 1 per channel (exposed for tests).
std::vector<float> SyntheticStyleTemplate(const PairShape& shape, uint64_t seed);

}  // namespace align::data
