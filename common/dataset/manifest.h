#pragma once
// The prepared-dataset manifest (manifest.json): the shape every pair has, and
// which shard files hold how many pairs of each split. docs/dataset.md is the
// format's reference.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dataset/flip_images.h"
#include "nlohmann/json.hpp"

namespace align::data {

// The format a manifest names is the oldest that describes it: align-pairs/1,
// or align-pairs/2 for a dataset with crop variants or per-image flips (the
// keys only /2 has), so a reader that predates them refuses such a dataset by
// its version. Readers read both.
inline constexpr absl::string_view kFormat = "align-pairs/1";
inline constexpr absl::string_view kFormatV2 = "align-pairs/2";
// At most this many crops per pair (each one is a copy of every latent tensor).
inline constexpr int64_t kMaxCropVariants = 64;
inline constexpr absl::string_view kManifestFile = "manifest.json";
// SDXL micro-conditioning: original size, crop top-left, target size.
inline constexpr int64_t kTimeIdsPerPair = 6;

struct PairShape {
  int64_t latent_channels = 0;
  int64_t latent_height = 0;
  int64_t latent_width = 0;
  int64_t tokens = 0;
  int64_t context_dim = 0;
  int64_t pooled_dim = 0;  // 0 for models without a pooled text embedding

  int64_t latent_numel() const { return latent_channels * latent_height * latent_width; }
  int64_t prompt_numel() const { return tokens * context_dim; }
  bool operator==(const PairShape& o) const {
    return latent_channels == o.latent_channels && latent_height == o.latent_height &&
           latent_width == o.latent_width && tokens == o.tokens && context_dim == o.context_dim &&
           pooled_dim == o.pooled_dim;
  }
  bool operator!=(const PairShape& o) const { return !(*this == o); }
};

struct ShardEntry {
  std::string file;  // a plain file name inside the dataset directory
  int64_t pairs = 0;
};

struct SplitEntry {
  int64_t pairs = 0;
  std::vector<ShardEntry> shards;
};

struct Manifest {
  PairShape shape;
  std::map<std::string, SplitEntry> splits;
  bool has_difficulty = false;                       // shards carry `difficulty` F32 [n]
  bool has_scores = false;                           // shards carry `score_w`, `score_l` F32 [n]
  // Training-time augmentation (docs/dataset.md, "Latent variants"): shards carry
  // `latents_flipped_w`, `latents_flipped_l`, the latents of the horizontally
  // flipped images, so a flip can be drawn each step...
  bool has_flipped_latents = false;
  // ...and `latents_logvar_w`, `latents_logvar_l` (with flipped latents also
  // `latents_flipped_logvar_w`, `latents_flipped_logvar_l`): the log-variance of
  // the VAE posterior in the stored (scaled) latent units, the latents being its
  // mean, so a latent can be sampled each step.
  bool has_latent_logvar = false;
  // Format 2: with has_flipped_latents, whether a pair's images flip together
  // (one draw) or each on its own (flip_images.h).
  FlipImages flip_images = FlipImages::kTogether;
  // Format 2: > 1 when every pair is stored at that many random crops (crop 0
  // in latents_w/l etc., crops 1.. in the crop_* tensors, each with its own
  // time ids), one of which training draws each time it reads the pair.
  int64_t crop_variants = 1;
  // The format version this manifest needs (kFormat or kFormatV2).
  absl::string_view format() const;
  nlohmann::json source = nlohmann::json::object();  // provenance, free-form
};

// InvalidArgument naming `what` and the offending key for any malformed field,
// unknown key, bad shape, or shard counts that do not add up to the split's.
absl::StatusOr<Manifest> ParseManifest(const std::string& json_text, const std::string& what);
// Deterministic (sorted keys, fixed indentation): same manifest, same bytes.
std::string SerializeManifest(const Manifest& manifest);
// Reads and parses `dir`/manifest.json.
absl::StatusOr<Manifest> LoadManifest(const std::string& dir);

// Split names become file names: [A-Za-z0-9_]+, at most 64 characters.
bool IsValidSplitName(absl::string_view name);
// `<split>-<index, 5 digits>.safetensors`.
std::string ShardFileName(const std::string& split, int64_t index);

}  // namespace align::data
