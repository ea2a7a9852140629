#include "common/dataset/writer.h"

#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/float16.h"
#include "common/dataset/shard_layout.h"
#include "common/file_util.h"
#include "common/safetensors/writer.h"
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
  auto [it, inserted] = splits_.try_emplace(name);
  if (inserted) {
    it->second.floats.resize(
        FloatTensors(manifest_.shape, options_.has_difficulty, options_.has_scores).size());
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
  const auto optional_span = [](const std::optional<float>& v) {
    return v ? absl::Span<const float>(&*v, 1) : absl::Span<const float>();
  };
  const auto present = [](const std::optional<float>& v) { return v.has_value(); };
  if (present(pair.difficulty) != options_.has_difficulty) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, options_.has_difficulty ? ": difficulty missing (the dataset has difficulty)"
                                     : ": difficulty given but the dataset was opened without it"));
  }
  if (present(pair.score_w) != options_.has_scores || present(pair.score_l) != options_.has_scores) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, options_.has_scores ? ": score_w and score_l are required (the dataset has scores)"
                                              : ": scores given but the dataset was opened without them"));
  }

  // In FloatTensors() order.
  std::vector<absl::Span<const float>> rows = {pair.latents_w, pair.latents_l, pair.prompt_embeds,
                                               pair.pooled_prompt_embeds, pair.time_ids};
  if (options_.has_difficulty) rows.push_back(optional_span(pair.difficulty));
  if (options_.has_scores) {
    rows.push_back(optional_span(pair.score_w));
    rows.push_back(optional_span(pair.score_l));
  }
  const std::vector<FloatTensorSpec> specs =
      FloatTensors(manifest_.shape, options_.has_difficulty, options_.has_scores);
  for (size_t t = 0; t < specs.size(); ++t) {
    if (static_cast<int64_t>(rows[t].size()) != RowNumel(specs[t])) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", specs[t].name, " has ", rows[t].size(),
                                                     " values, expected ", RowNumel(specs[t])));
    }
    for (float v : rows[t]) {
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat(who, ": ", specs[t].name, " holds a non-finite value"));
      }
    }
  }

  PendingSplit& split = SplitNamed(split_name);
  for (size_t t = 0; t < specs.size(); ++t) {
    split.floats[t].insert(split.floats[t].end(), rows[t].begin(), rows[t].end());
  }
  split.pair_ids.push_back(pair.pair_id);
  pair_ids_.insert(pair.pair_id);
  if (static_cast<int64_t>(split.pair_ids.size()) == options_.pairs_per_shard) {
    RETURN_IF_ERROR(Flush(split_name, split));
  }
  return absl::OkStatus();
}

absl::Status DatasetWriter::Flush(const std::string& name, PendingSplit& split) {
  const int64_t n = static_cast<int64_t>(split.pair_ids.size());
  if (n == 0) return absl::OkStatus();
  const std::string file = ShardFileName(name, static_cast<int64_t>(split.entry.shards.size()));
  const std::vector<FloatTensorSpec> specs =
      FloatTensors(manifest_.shape, options_.has_difficulty, options_.has_scores);

  safetensors::Writer shard;
  shard.SetMetadata("format", std::string(kFormat));
  shard.SetMetadata("split", name);
  const size_t element_size = safetensors::DTypeSize(options_.float_dtype);
  std::vector<uint8_t> bytes;
  for (size_t t = 0; t < specs.size(); ++t) {
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), specs[t].row_shape.begin(), specs[t].row_shape.end());
    const std::vector<float>& values = split.floats[t];
    bytes.resize(values.size() * element_size);
    RETURN_IF_ERROR(ConvertFromFloat(values.data(), static_cast<int64_t>(values.size()), options_.float_dtype,
                                     bytes.data()));
    RETURN_IF_ERROR(shard.Add(std::string(specs[t].name), options_.float_dtype, std::move(shape),
                              bytes.data(), bytes.size()));
  }
  RETURN_IF_ERROR(shard.Add(std::string(kPairIdTensor), safetensors::DType::kI64, {n}, split.pair_ids.data(),
                            split.pair_ids.size() * sizeof(int64_t)));
  RETURN_IF_ERROR(shard.WriteFile(absl::StrCat(dir_, "/", file)));

  split.entry.shards.push_back({file, n});
  split.entry.pairs += n;
  for (std::vector<float>& buffer : split.floats) buffer.clear();
  split.pair_ids.clear();
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
