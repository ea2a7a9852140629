#pragma once
// One preference pair as writers take it: borrowed spans, sizes fixed by the
// dataset's PairShape (docs/dataset.md).

#include <cstdint>
#include <optional>

#include "absl/types/span.h"

namespace align::data {

// One pair, borrowed from the caller; sizes must match the dataset's PairShape.
struct PairRecord {
  absl::Span<const float> latents_w;             // C*H*W
  absl::Span<const float> latents_l;             // C*H*W
  absl::Span<const float> prompt_embeds;         // tokens*context_dim
  absl::Span<const float> pooled_prompt_embeds;  // pooled_dim
  absl::Span<const float> time_ids;              // 6
  int64_t pair_id = 0;                           // unique within the dataset
  std::optional<float> difficulty;               // required iff WriterOptions::has_difficulty
  std::optional<float> score_w, score_l;         // required iff WriterOptions::has_scores
  // C*H*W each, required iff ShardOptions::has_latent_logvar / has_flipped_latents.
  absl::Span<const float> latents_logvar_w, latents_logvar_l;
  absl::Span<const float> latents_flipped_w, latents_flipped_l;
  absl::Span<const float> latents_flipped_logvar_w, latents_flipped_logvar_l;
};

}  // namespace align::data
