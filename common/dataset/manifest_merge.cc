#include "common/dataset/manifest_merge.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dataset/float16.h"
#include "common/dataset/shard_layout.h"
#include "common/file_util.h"
#include "common/safetensors/reader.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

// Checks one shard's tensors against the shape; returns its pair ids.
absl::StatusOr<std::vector<int64_t>> CheckShard(const std::string& path, const MergeRequest& request) {
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file, safetensors::File::Open(path));
  ASSIGN_OR_RETURN(safetensors::TensorView ids, file->Get(std::string(kPairIdTensor)));
  if (ids.info->dtype != safetensors::DType::kI64 || ids.info->shape.size() != 1 || ids.info->shape[0] < 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": pair_id must be I64 [n], n >= 1"));
  }
  const int64_t n = ids.info->shape[0];
  const std::vector<FloatTensorSpec> specs =
      FloatTensors(request.shape, request.has_difficulty, request.has_scores, request.has_flipped_latents,
                   request.has_latent_logvar, request.crop_variants);
  std::set<std::string> expected = {std::string(kPairIdTensor)};
  for (const FloatTensorSpec& spec : specs) {
    expected.insert(std::string(spec.name));
    ASSIGN_OR_RETURN(safetensors::TensorView view, file->Get(std::string(spec.name)));
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), spec.row_shape.begin(), spec.row_shape.end());
    if (!IsFloatingDType(view.info->dtype) || view.info->shape != shape) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor ", spec.name, " has dtype ",
                                                     std::string(safetensors::DTypeName(view.info->dtype)),
                                                     " shape [", absl::StrJoin(view.info->shape, ","),
                                                     "], expected a float dtype and [", absl::StrJoin(shape, ","),
                                                     "]"));
    }
  }
  for (const safetensors::TensorInfo& info : file->tensors()) {
    if (expected.count(info.name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unexpected tensor ", info.name));
    }
  }
  std::vector<int64_t> out(n);
  std::memcpy(out.data(), ids.data, n * sizeof(int64_t));
  return out;
}

}  // namespace

absl::StatusOr<Manifest> WriteMergedManifest(const std::string& dir, const MergeRequest& request) {
  Manifest manifest;
  manifest.shape = request.shape;
  manifest.has_difficulty = request.has_difficulty;
  manifest.has_scores = request.has_scores;
  manifest.has_flipped_latents = request.has_flipped_latents;
  manifest.has_latent_logvar = request.has_latent_logvar;
  manifest.flip_images = request.flip_images;
  manifest.crop_variants = request.crop_variants;
  manifest.source = request.source;
  std::set<int64_t> ids;
  for (const auto& [split, files] : request.splits) {
    if (!IsValidSplitName(split)) {
      return absl::InvalidArgumentError(absl::StrCat("bad split name \"", split, "\" (expected [A-Za-z0-9_]+)"));
    }
    SplitEntry& entry = manifest.splits[split];
    for (const std::string& file : files) {
      ASSIGN_OR_RETURN(std::vector<int64_t> shard_ids, CheckShard(absl::StrCat(dir, "/", file), request));
      for (int64_t id : shard_ids) {
        if (!ids.insert(id).second) {
          return absl::InvalidArgumentError(absl::StrCat(dir, "/", file, ": pair id ", id,
                                                         " also appears in an earlier shard"));
        }
      }
      entry.shards.push_back({file, static_cast<int64_t>(shard_ids.size())});
      entry.pairs += static_cast<int64_t>(shard_ids.size());
    }
  }
  // The serialised manifest must parse back: the same rules as every reader applies.
  const std::string text = SerializeManifest(manifest);
  RETURN_IF_ERROR(ParseManifest(text, absl::StrCat(dir, "/", kManifestFile)).status());
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(dir, "/", kManifestFile), text));
  return manifest;
}

}  // namespace align::data
