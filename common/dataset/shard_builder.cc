#include "common/dataset/shard_builder.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/dataset/float16.h"
#include "common/dataset/shard_layout.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

// The pair's rows in FloatTensors() order.
std::vector<absl::Span<const float>> Rows(const PairRecord& pair, const ShardOptions& options) {
  const auto optional_span = [](const std::optional<float>& v) {
    return v ? absl::Span<const float>(&*v, 1) : absl::Span<const float>();
  };
  std::vector<absl::Span<const float>> rows = {pair.latents_w, pair.latents_l, pair.prompt_embeds,
                                               pair.pooled_prompt_embeds, pair.time_ids};
  if (options.has_difficulty) rows.push_back(optional_span(pair.difficulty));
  if (options.has_scores) {
    rows.push_back(optional_span(pair.score_w));
    rows.push_back(optional_span(pair.score_l));
  }
  if (options.has_latent_logvar) {
    rows.push_back(pair.latents_logvar_w);
    rows.push_back(pair.latents_logvar_l);
  }
  if (options.has_flipped_latents) {
    rows.push_back(pair.latents_flipped_w);
    rows.push_back(pair.latents_flipped_l);
    if (options.has_latent_logvar) {
      rows.push_back(pair.latents_flipped_logvar_w);
      rows.push_back(pair.latents_flipped_logvar_l);
    }
  }
  if (options.crop_variants > 1) {  // FloatTensors() order: crop_X in the order of X
    rows.push_back(pair.crop_latents_w);
    rows.push_back(pair.crop_latents_l);
    rows.push_back(pair.crop_time_ids);
    if (options.has_latent_logvar) {
      rows.push_back(pair.crop_latents_logvar_w);
      rows.push_back(pair.crop_latents_logvar_l);
    }
    if (options.has_flipped_latents) {
      rows.push_back(pair.crop_latents_flipped_w);
      rows.push_back(pair.crop_latents_flipped_l);
      if (options.has_latent_logvar) {
        rows.push_back(pair.crop_latents_flipped_logvar_w);
        rows.push_back(pair.crop_latents_flipped_logvar_l);
      }
    }
  }
  return rows;
}

}  // namespace

ShardBuilder::ShardBuilder(const PairShape& shape, const ShardOptions& options)
    : shape_(shape), options_(options) {
  floats_.resize(FloatTensors(shape_, options_.has_difficulty, options_.has_scores, options_.has_flipped_latents,
                                options_.has_latent_logvar, options_.crop_variants).size());
}

absl::Status ShardBuilder::Validate(const PairRecord& pair, const std::string& who) const {
  if (pair.difficulty.has_value() != options_.has_difficulty) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, options_.has_difficulty ? ": difficulty missing (the dataset has difficulty)"
                                     : ": difficulty given but the dataset was opened without it"));
  }
  if (pair.score_w.has_value() != options_.has_scores || pair.score_l.has_value() != options_.has_scores) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, options_.has_scores ? ": score_w and score_l are required (the dataset has scores)"
                                              : ": scores given but the dataset was opened without them"));
  }
  const std::vector<absl::Span<const float>> rows = Rows(pair, options_);
  const std::vector<FloatTensorSpec> specs = FloatTensors(shape_, options_.has_difficulty, options_.has_scores, options_.has_flipped_latents,
                                options_.has_latent_logvar, options_.crop_variants);
  for (size_t t = 0; t < specs.size(); ++t) {
    if (static_cast<int64_t>(rows[t].size()) != RowNumel(specs[t])) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", specs[t].name, " has ", rows[t].size(),
                                                     " values, expected ", RowNumel(specs[t])));
    }
    for (float v : rows[t]) {
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", specs[t].name, " holds a non-finite value"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ShardBuilder::Add(const PairRecord& pair, const std::string& who) {
  RETURN_IF_ERROR(Validate(pair, who));
  const std::vector<absl::Span<const float>> rows = Rows(pair, options_);
  for (size_t t = 0; t < rows.size(); ++t) floats_[t].insert(floats_[t].end(), rows[t].begin(), rows[t].end());
  pair_ids_.push_back(pair.pair_id);
  return absl::OkStatus();
}

absl::Status ShardBuilder::Write(const std::string& path, const std::string& split) const {
  const int64_t n = size();
  if (n == 0) return absl::OkStatus();
  const std::vector<FloatTensorSpec> specs = FloatTensors(shape_, options_.has_difficulty, options_.has_scores, options_.has_flipped_latents,
                                options_.has_latent_logvar, options_.crop_variants);
  safetensors::Writer shard;
  shard.SetMetadata("format", std::string(options_.crop_variants > 1 ? kFormatV2 : kFormat));
  shard.SetMetadata("split", split);
  const size_t element_size = safetensors::DTypeSize(options_.float_dtype);
  std::vector<uint8_t> bytes;
  for (size_t t = 0; t < specs.size(); ++t) {
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), specs[t].row_shape.begin(), specs[t].row_shape.end());
    const std::vector<float>& values = floats_[t];
    bytes.resize(values.size() * element_size);
    RETURN_IF_ERROR(ConvertFromFloat(values.data(), static_cast<int64_t>(values.size()), options_.float_dtype,
                                     bytes.data()));
    RETURN_IF_ERROR(shard.Add(std::string(specs[t].name), options_.float_dtype, std::move(shape), bytes.data(),
                              bytes.size()));
  }
  RETURN_IF_ERROR(shard.Add(std::string(kPairIdTensor), safetensors::DType::kI64, {n}, pair_ids_.data(),
                            pair_ids_.size() * sizeof(int64_t)));
  return shard.WriteFile(path);  // atomic: temporary file + rename
}

void ShardBuilder::Clear() {
  for (std::vector<float>& buffer : floats_) buffer.clear();
  pair_ids_.clear();
}

}  // namespace align::data
