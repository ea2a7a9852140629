#include "common/dataset/empty_prompt.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/float16.h"
#include "common/random.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

constexpr uint64_t kPromptDropoutStream = 0x70726f6d7074;  // "prompt"

absl::StatusOr<std::vector<float>> ReadTensor(const safetensors::File& file, const std::string& name,
                                              const std::vector<int64_t>& shape) {
  ASSIGN_OR_RETURN(const safetensors::TensorView view, file.Get(name));
  if (view.info->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": ", name, " does not have the dataset's shape"));
  }
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<uint8_t> bytes(view.info->nbytes());
  RETURN_IF_ERROR(file.ReadBytes(view, 0, bytes.size(), bytes.data()));
  std::vector<float> values(static_cast<size_t>(n));
  RETURN_IF_ERROR(ConvertToFloat(view.info->dtype, bytes.data(), n, values.data()));
  return values;
}

}  // namespace

absl::Status WriteEmptyPrompt(const std::string& dir, const PairShape& shape, absl::Span<const float> prompt_embeds,
                              absl::Span<const float> pooled_prompt_embeds, int writer) {
  if (static_cast<int64_t>(prompt_embeds.size()) != shape.prompt_numel() ||
      static_cast<int64_t>(pooled_prompt_embeds.size()) != shape.pooled_dim) {
    return absl::InvalidArgumentError("the empty prompt's conditioning does not have the dataset's shape");
  }
  const std::filesystem::path path = std::filesystem::path(dir) / std::string(kEmptyPromptFile);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", path.parent_path().string(), ": ", ec.message()));
  safetensors::Writer out;
  out.SetMetadata("format", std::string(kFormat));
  out.SetMetadata("prompt", "");
  RETURN_IF_ERROR(out.Add("prompt_embeds", safetensors::DType::kF32, {1, shape.tokens, shape.context_dim},
                          prompt_embeds.data(), prompt_embeds.size() * sizeof(float)));
  if (shape.pooled_dim > 0) {
    RETURN_IF_ERROR(out.Add("pooled_prompt_embeds", safetensors::DType::kF32, {1, shape.pooled_dim},
                            pooled_prompt_embeds.data(), pooled_prompt_embeds.size() * sizeof(float)));
  }
  const std::string own = absl::StrCat(path.string(), ".", writer, ".", ::getpid());
  RETURN_IF_ERROR(out.WriteFile(own));
  std::filesystem::rename(own, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(own, ignored);
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", own, " to ", path.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

bool PromptDropped(uint64_t seed, int64_t step, int64_t pair_id, double p) {
  if (p <= 0) return false;
  CounterRng rng(DeriveSeed(seed, {kPromptDropoutStream, static_cast<uint64_t>(step), static_cast<uint64_t>(pair_id)}));
  const double u = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;  // [0, 1)
  return u < p;
}

absl::StatusOr<EmptyPrompt> EmptyPrompt::Load(const std::string& dir, const PairShape& shape) {
  const std::string path = (std::filesystem::path(dir) / std::string(kEmptyPromptFile)).string();
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat(
        "data.prompt_dropout needs the empty prompt's conditioning, ", path,
        ", which a prepare job writes; this dataset has none (prepare it again, or set prompt_dropout: 0)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file, safetensors::File::Open(path));
  EmptyPrompt empty;
  ASSIGN_OR_RETURN(empty.prompt_embeds_, ReadTensor(*file, "prompt_embeds", {1, shape.tokens, shape.context_dim}));
  if (shape.pooled_dim > 0) {
    ASSIGN_OR_RETURN(empty.pooled_, ReadTensor(*file, "pooled_prompt_embeds", {1, shape.pooled_dim}));
  }
  return empty;
}

int64_t EmptyPrompt::ApplyDropout(PairBatch& batch, uint64_t seed, int64_t step, double p) const {
  int64_t dropped = 0;
  const size_t prompt_n = prompt_embeds_.size(), pooled_n = pooled_.size();
  for (int64_t i = 0; i < batch.size; ++i) {
    if (!PromptDropped(seed, step, batch.pair_ids[static_cast<size_t>(i)], p)) continue;
    std::copy(prompt_embeds_.begin(), prompt_embeds_.end(), batch.prompt_embeds.begin() + i * prompt_n);
    std::copy(pooled_.begin(), pooled_.end(), batch.pooled_prompt_embeds.begin() + i * pooled_n);
    ++dropped;
  }
  return dropped;
}

}  // namespace align::data
