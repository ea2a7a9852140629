#include "common/dataset/writer.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/float16.h"
#include "common/dataset/shard_builder.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

namespace fs = std::filesystem;

// Removes a previous dataset: manifest first, so an interrupted overwrite
// leaves a directory no reader accepts rather than a mix of old and new shards.
absl::Status RemoveDataset(const std::string& dir) {
  const std::string manifest_path = absl::StrCat(dir, "/", kManifestFile);
  absl::StatusOr<Manifest> old = LoadManifest(dir);
  std::error_code ec;
  fs::remove(manifest_path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", manifest_path, ": ", ec.message()));
  if (!old.ok()) return absl::OkStatus();  // unreadable: nothing known to clean up
  for (const auto& [name, split] : old->splits) {
    for (const ShardEntry& shard : split.shards) fs::remove(absl::StrCat(dir, "/", shard.file), ec);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DatasetWriter>> DatasetWriter::Open(const std::string& dir,
                                                                   const PairShape& shape,
                                                                   WriterOptions options) {
  if (shape.latent_channels < 1 || shape.latent_height < 1 || shape.latent_width < 1 || shape.tokens < 1 ||
      shape.context_dim < 1 || shape.pooled_dim < 0) {
    return absl::InvalidArgumentError(
        "dataset shape: latent_channels, latent_height, latent_width, tokens and context_dim must be "
        ">= 1, pooled_dim >= 0");
  }
  if (options.pairs_per_shard < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pairs_per_shard must be >= 1, got ", options.pairs_per_shard));
  }
  if (!IsFloatingDType(options.float_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("float_dtype must be F32, F16 or BF16, got ",
                                                   std::string(safetensors::DTypeName(options.float_dtype))));
  }
  for (const std::string& split : options.splits) {
    if (!IsValidSplitName(split)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad split name \"", split, "\" (expected [A-Za-z0-9_]+)"));
    }
  }
  if (!options.source.is_object()) return absl::InvalidArgumentError("source must be a JSON object");

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  if (fs::exists(absl::StrCat(dir, "/", kManifestFile))) {
    if (!options.overwrite) {
      return absl::AlreadyExistsError(absl::StrCat(dir, " already holds a dataset (", kManifestFile,
                                                   "); remove it or ask to overwrite it"));
    }
    RETURN_IF_ERROR(RemoveDataset(dir));
  }
  std::unique_ptr<DatasetWriter> writer(new DatasetWriter(dir, shape, std::move(options)));
  for (const std::string& split : writer->options_.splits) writer->SplitNamed(split);
  return writer;
}

DatasetWriter::DatasetWriter(std::string dir, const PairShape& shape, WriterOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  manifest_.shape = shape;
  manifest_.has_difficulty = options_.has_difficulty;
  manifest_.has_scores = options_.has_scores;
  manifest_.source = options_.source;
}

DatasetWriter::PendingSplit& DatasetWriter::SplitNamed(const std::string& name) {
  auto it = splits_.find(name);
  if (it == splits_.end()) {
    const ShardOptions shard_options{options_.float_dtype, options_.has_difficulty, options_.has_scores};
    it = splits_.emplace(name, PendingSplit{SplitEntry{}, ShardBuilder(manifest_.shape, shard_options)}).first;
  }
  return it->second;
}

absl::Status DatasetWriter::Add(const std::string& split_name, const PairRecord& pair) {
  if (finished_) return absl::FailedPreconditionError("DatasetWriter::Add after Finish");
  if (!IsValidSplitName(split_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad split name \"", split_name, "\" (expected [A-Za-z0-9_]+)"));
  }
  const std::string who = absl::StrCat("pair id ", pair.pair_id, " (split ", split_name, ")");
  if (pair_ids_.count(pair.pair_id) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": pair id already used"));
  }
  PendingSplit& split = SplitNamed(split_name);
  RETURN_IF_ERROR(split.shard.Add(pair, who));
  pair_ids_.insert(pair.pair_id);
  if (split.shard.size() == options_.pairs_per_shard) RETURN_IF_ERROR(Flush(split_name, split));
  return absl::OkStatus();
}

absl::Status DatasetWriter::Flush(const std::string& name, PendingSplit& split) {
  const int64_t n = split.shard.size();
  if (n == 0) return absl::OkStatus();
  const std::string file = ShardFileName(name, static_cast<int64_t>(split.entry.shards.size()));
  RETURN_IF_ERROR(split.shard.Write(absl::StrCat(dir_, "/", file), name));
  split.entry.shards.push_back({file, n});
  split.entry.pairs += n;
  split.shard.Clear();
  return absl::OkStatus();
}

absl::StatusOr<Manifest> DatasetWriter::Finish() {
  if (finished_) return absl::FailedPreconditionError("DatasetWriter::Finish called twice");
  finished_ = true;
  for (auto& [name, split] : splits_) {
    RETURN_IF_ERROR(Flush(name, split));
    manifest_.splits[name] = split.entry;
  }
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(dir_, "/", kManifestFile), SerializeManifest(manifest_)));
  return manifest_;
}

}  // namespace align::data
