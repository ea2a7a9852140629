#include "common/dataset/reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dataset/float16.h"
#include "common/dataset/shard_layout.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::StatusOr<std::unique_ptr<PairReader>> PairReader::Open(const std::string& dir,
                                                             const std::string& split) {
  ASSIGN_OR_RETURN(Manifest manifest, LoadManifest(dir));
  auto it = manifest.splits.find(split);
  if (it == manifest.splits.end()) {
    std::vector<std::string> names;
    for (const auto& [name, entry] : manifest.splits) names.push_back(name);
    return absl::NotFoundError(absl::StrCat(dir, "/", kManifestFile, ": no split \"", split,
                                            "\" (splits: ", absl::StrJoin(names, ", "), ")"));
  }
  std::unique_ptr<PairReader> reader(new PairReader());
  reader->manifest_ = std::move(manifest);
  reader->split_ = split;
  const SplitEntry& entry = reader->manifest_.splits.at(split);
  reader->shards_.reserve(entry.shards.size());
  for (const ShardEntry& shard : entry.shards) {
    RETURN_IF_ERROR(reader->OpenShard(dir, shard, reader->num_pairs_));
    reader->num_pairs_ += shard.pairs;
  }

  // A repeated id would make per-pair metrics and resumption ambiguous.
  std::unordered_map<int64_t, int64_t> seen;
  for (const Shard& shard : reader->shards_) {
    for (int64_t row = 0; row < shard.pairs; ++row) {
      const int64_t id = reader->PairIdAt(shard, row);
      auto [pos, inserted] = seen.emplace(id, shard.first + row);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(shard.file, ": pair_id ", id,
                                                       " repeats (split indices ", pos->second, " and ",
                                                       shard.first + row, ")"));
      }
    }
  }
  return reader;
}

absl::Status PairReader::OpenShard(const std::string& dir, const ShardEntry& entry, int64_t first) {
  Shard shard;
  shard.file = entry.file;
  shard.first = first;
  shard.pairs = entry.pairs;
  ASSIGN_OR_RETURN(shard.mapped, safetensors::File::Open(absl::StrCat(dir, "/", entry.file)));

  const std::vector<FloatTensorSpec> specs =
      FloatTensors(manifest_);
  std::vector<absl::string_view> expected;
  for (const FloatTensorSpec& spec : specs) expected.push_back(spec.name);
  expected.push_back(kPairIdTensor);
  for (const safetensors::TensorInfo& info : shard.mapped->tensors()) {
    if (std::find(expected.begin(), expected.end(), info.name) == expected.end()) {
      const std::vector<absl::string_view> all = AllTensorNames();
      const bool optional = std::find(all.begin(), all.end(), info.name) != all.end();
      return absl::InvalidArgumentError(
          absl::StrCat(entry.file, ": unexpected tensor \"", info.name, "\"",
                       optional ? " (the manifest does not declare it: has_difficulty / has_scores / "
                                  "has_flipped_latents / has_latent_logvar / crop_variants)"
                               : ""));
    }
  }

  const auto check = [&](absl::string_view name, std::vector<int64_t> shape,
                         bool floating) -> absl::StatusOr<safetensors::TensorView> {
    absl::StatusOr<safetensors::TensorView> view =
        shard.mapped->Get(std::string_view(name.data(), name.size()));
    if (!view.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(entry.file, ": missing tensor \"", name, "\""));
    }
    const safetensors::TensorInfo& info = *view->info;
    if (floating ? !IsFloatingDType(info.dtype) : info.dtype != safetensors::DType::kI64) {
      return absl::InvalidArgumentError(absl::StrCat(entry.file, ": tensor \"", name, "\" has dtype ",
                                                     std::string(safetensors::DTypeName(info.dtype)),
                                                     ", expected ", floating ? "F32, F16 or BF16" : "I64"));
    }
    if (!info.shape.empty() && info.shape[0] != entry.pairs && info.shape.size() == shape.size()) {
      return absl::InvalidArgumentError(absl::StrCat(entry.file, ": tensor \"", name, "\" holds ",
                                                     info.shape[0], " pairs but the manifest lists ",
                                                     entry.pairs, " for this shard"));
    }
    if (info.shape != shape) {
      return absl::InvalidArgumentError(absl::StrCat(entry.file, ": tensor \"", name, "\" has shape ",
                                                     ShapeString(info.shape), ", expected ",
                                                     ShapeString(shape)));
    }
    return *view;
  };
  for (const FloatTensorSpec& spec : specs) {
    std::vector<int64_t> shape = {entry.pairs};
    shape.insert(shape.end(), spec.row_shape.begin(), spec.row_shape.end());
    ASSIGN_OR_RETURN(safetensors::TensorView view, check(spec.name, std::move(shape), true));
    shard.floats.push_back(view);
  }
  ASSIGN_OR_RETURN(const safetensors::TensorView ids, check(kPairIdTensor, {entry.pairs}, false));
  shard.pair_ids.resize(static_cast<size_t>(entry.pairs));
  RETURN_IF_ERROR(shard.mapped->ReadBytes(ids, 0, ids.info->nbytes(), shard.pair_ids.data()));
  shards_.push_back(std::move(shard));
  return absl::OkStatus();
}

const PairReader::Shard& PairReader::ShardOf(int64_t index) const {
  auto it = std::upper_bound(shards_.begin(), shards_.end(), index,
                             [](int64_t i, const Shard& s) { return i < s.first; });
  return *(it - 1);
}

int64_t PairReader::PairIdAt(const Shard& shard, int64_t row) const {
  return shard.pair_ids[static_cast<size_t>(row)];
}

absl::StatusOr<PairBatch> PairReader::Read(const std::vector<int64_t>& indices) const {
  const std::vector<FloatTensorSpec> specs =
      FloatTensors(manifest_);
  PairBatch batch;
  batch.size = static_cast<int64_t>(indices.size());
  batch.shape = manifest_.shape;
  batch.crop_variants = manifest_.crop_variants;
  batch.flip_images = manifest_.flip_images;
  for (const FloatTensorSpec& spec : specs) (batch.*spec.field).resize(batch.size * RowNumel(spec));
  batch.pair_ids.resize(indices.size());

  std::vector<uint8_t> row_bytes;
  for (int64_t b = 0; b < batch.size; ++b) {
    const int64_t index = indices[b];
    if (index < 0 || index >= num_pairs_) {
      return absl::OutOfRangeError(
          absl::StrCat("pair index ", index, " outside split \"", split_, "\" of ", num_pairs_, " pairs"));
    }
    const Shard& shard = ShardOf(index);
    const int64_t row = index - shard.first;
    batch.pair_ids[b] = PairIdAt(shard, row);
    for (size_t t = 0; t < specs.size(); ++t) {
      const int64_t n = RowNumel(specs[t]);
      const safetensors::TensorView& view = shard.floats[t];
      const size_t element_size = safetensors::DTypeSize(view.info->dtype);
      float* dst = (batch.*specs[t].field).data() + b * n;
      row_bytes.resize(static_cast<size_t>(n) * element_size);
      RETURN_IF_ERROR(shard.mapped->ReadBytes(view, static_cast<uint64_t>(row * n) * element_size,
                                              row_bytes.size(), row_bytes.data()));
      RETURN_IF_ERROR(ConvertToFloat(view.info->dtype, row_bytes.data(), n, dst));
      for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(dst[i])) {
          return absl::DataLossError(absl::StrCat(shard.file, ": tensor \"", specs[t].name,
                                                  "\" holds a non-finite value for pair id ",
                                                  batch.pair_ids[b], " (split index ", index, ")"));
        }
      }
    }
  }
  return batch;
}

absl::StatusOr<std::vector<float>> PairReader::Difficulties() const { return PerPairValues("difficulty"); }

absl::StatusOr<std::vector<float>> PairReader::PerPairValues(const std::string& name) const {
  if ((name == "difficulty" && !manifest_.has_difficulty) ||
      ((name == "score_w" || name == "score_l") && !manifest_.has_scores)) {
    return absl::FailedPreconditionError(absl::StrCat("split \"", split_, "\" has no ", name, " (manifest ",
                                                      name == "difficulty" ? "has_difficulty" : "has_scores",
                                                      " is false)"));
  }
  const std::vector<FloatTensorSpec> specs =
      FloatTensors(manifest_);
  size_t slot = 0;
  while (slot < specs.size() && specs[slot].name != name) ++slot;
  if (slot == specs.size() || RowNumel(specs[slot]) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a per-pair value of this dataset"));
  }
  std::vector<float> values(num_pairs_);
  for (const Shard& shard : shards_) {
    const safetensors::TensorView& view = shard.floats[slot];
    std::vector<uint8_t> bytes(view.info->nbytes());
    RETURN_IF_ERROR(shard.mapped->ReadBytes(view, 0, bytes.size(), bytes.data()));
    RETURN_IF_ERROR(ConvertToFloat(view.info->dtype, bytes.data(), shard.pairs, values.data() + shard.first));
    for (int64_t row = 0; row < shard.pairs; ++row) {
      if (!std::isfinite(values[shard.first + row])) {
        return absl::DataLossError(absl::StrCat(shard.file, ": tensor \"", name,
                                                "\" holds a non-finite value for pair id ", PairIdAt(shard, row)));
      }
    }
  }
  return values;
}

std::vector<int64_t> PairReader::PairIds() const {
  std::vector<int64_t> ids;
  ids.reserve(num_pairs_);
  for (const Shard& shard : shards_) {
    for (int64_t row = 0; row < shard.pairs; ++row) ids.push_back(PairIdAt(shard, row));
  }
  return ids;
}

}  // namespace align::data
