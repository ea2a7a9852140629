#pragma once
// Writes manifest.json for shards that several writers produced independently
// (the ranks of a prepare job each write their own shard files): the one step
// that must happen once, after every writer is done. Each listed shard is
// opened and checked against the shape (every tensor, dtype class and pair
// count), pair ids must be unique across the whole dataset, and only then is
// the manifest written, atomically and last, as DatasetWriter::Finish does.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "nlohmann/json.hpp"

namespace align::data {

struct MergeRequest {
  PairShape shape;
  bool has_difficulty = false;
  bool has_scores = false;
  bool has_flipped_latents = false;
  bool has_latent_logvar = false;
  FlipImages flip_images = FlipImages::kTogether;
  int64_t crop_variants = 1;
  // Shard file names (inside the dataset directory) per split, in order. Every
  // split named here is listed in the manifest, empty ones included.
  std::map<std::string, std::vector<std::string>> splits;
  nlohmann::json source = nlohmann::json::object();
};

absl::StatusOr<Manifest> WriteMergedManifest(const std::string& dir, const MergeRequest& request);

}  // namespace align::data
