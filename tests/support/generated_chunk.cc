#include "tests/support/generated_chunk.h"

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"

namespace align::testing {

absl::Status WriteGeneratedChunk(const curriculum::GenerateLayout& layout, int64_t chunk) {
  curriculum::GenerateChunkRecord record;
  record.chunk = chunk;
  record.fingerprint = absl::StrFormat("%016x", layout.fingerprint);
  record.latents = layout.LatentsFile(chunk);
  std::vector<float> latents, embeds, pooled, time_ids;
  std::vector<int64_t> sample_ids, prompt_indices;
  for (int64_t p = layout.FirstPrompt(chunk); p < layout.EndPrompt(chunk); ++p) {
    prompt_indices.push_back(p);
    embeds.insert(embeds.end(), kGeneratedTokens * kGeneratedDim, static_cast<float>(p));
    pooled.insert(pooled.end(), kGeneratedPooled, static_cast<float>(p) + 0.5f);
    time_ids.insert(time_ids.end(), {64, 48, 0, 0, 64, 48});
    for (int64_t s = 0; s < layout.samples_per_prompt; ++s) {
      const int64_t id = layout.SampleId(p, s);
      record.images.push_back({p, s, id, layout.ImageFile(p, s), static_cast<int64_t>(sample_ids.size())});
      sample_ids.push_back(id);
      latents.insert(latents.end(), 4 * 2 * 2, static_cast<float>(id));
    }
  }
  const auto n = static_cast<int64_t>(sample_ids.size());
  const auto np = static_cast<int64_t>(prompt_indices.size());
  using safetensors::DType;
  safetensors::Writer w;
  RETURN_IF_ERROR(w.Add("latents", DType::kF32, {n, 4, 2, 2}, latents.data(), latents.size() * sizeof(float)));
  RETURN_IF_ERROR(w.Add("sample_ids", DType::kI64, {n}, sample_ids.data(), n * sizeof(int64_t)));
  RETURN_IF_ERROR(w.Add("prompt_indices", DType::kI64, {np}, prompt_indices.data(), np * sizeof(int64_t)));
  RETURN_IF_ERROR(w.Add("prompt_embeds", DType::kF32, {np, kGeneratedTokens, kGeneratedDim}, embeds.data(),
                        embeds.size() * sizeof(float)));
  RETURN_IF_ERROR(w.Add("pooled_prompt_embeds", DType::kF32, {np, kGeneratedPooled}, pooled.data(),
                        pooled.size() * sizeof(float)));
  RETURN_IF_ERROR(w.Add("time_ids", DType::kF32, {np, 6}, time_ids.data(), time_ids.size() * sizeof(float)));
  const std::vector<float> empty(kGeneratedTokens * kGeneratedDim, kEmptyPromptValue);
  const std::vector<float> empty_pooled(kGeneratedPooled, kEmptyPromptValue - 1);
  RETURN_IF_ERROR(w.Add(curriculum::kEmptyPromptEmbeds, DType::kF32, {1, kGeneratedTokens, kGeneratedDim},
                        empty.data(), empty.size() * sizeof(float)));
  RETURN_IF_ERROR(w.Add(curriculum::kEmptyPooledPromptEmbeds, DType::kF32, {1, kGeneratedPooled},
                        empty_pooled.data(), empty_pooled.size() * sizeof(float)));
  std::error_code ec;
  std::filesystem::create_directories(layout.output + "/latents", ec);
  RETURN_IF_ERROR(w.WriteFile(layout.output + "/" + record.latents));
  return curriculum::WriteGenerateChunkRecord(layout, record);
}

}  // namespace align::testing
