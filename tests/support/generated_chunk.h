#pragma once
// What a generate rank leaves behind for one finished chunk, without a
// model: a latents file whose latents are all the sample's id and whose
// prompt embeddings are all the prompt's index (so a test can tell which
// sample and prompt a copied pair came from), and the chunk's record.

#include <cstdint>

#include "absl/status/status.h"
#include "common/curriculum/generate_layout.h"

namespace align::testing {

inline constexpr int64_t kGeneratedTokens = 5;
inline constexpr int64_t kGeneratedDim = 3;
inline constexpr int64_t kGeneratedPooled = 2;
// Every value of the empty prompt's embeddings (its pooled: this minus 1).
inline constexpr float kEmptyPromptValue = -1;

// Latents [n, 4, 2, 2]; prompt_embeds [p, 5, 3]; pooled [p, 2] = index + 0.5;
// time_ids (64, 48, 0, 0, 64, 48); the empty prompt's embeddings.
absl::Status WriteGeneratedChunk(const curriculum::GenerateLayout& layout, int64_t chunk);

}  // namespace align::testing
