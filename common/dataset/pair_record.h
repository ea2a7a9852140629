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
  // With ShardOptions::crop_variants K > 1: crops 1 .. K-1 of each latent
  // tensor above that the shard has, (K - 1) * C*H*W each, and of time_ids,
  // (K - 1) * 6 (docs/dataset.md); the fields above are crop 0.
  absl::Span<const float> crop_latents_w, crop_latents_l, crop_time_ids;
  absl::Span<const float> crop_latents_logvar_w, crop_latents_logvar_l;
  absl::Span<const float> crop_latents_flipped_w, crop_latents_flipped_l;
  absl::Span<const float> crop_latents_flipped_logvar_w, crop_latents_flipped_logvar_l;
};

}  // namespace align::data
