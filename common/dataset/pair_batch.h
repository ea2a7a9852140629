#pragma once
// Pairs as the trainer consumes them: fp32, row-major, [size, ...] per tensor.

#include <cstdint>
#include <vector>

#include "common/dataset/manifest.h"

namespace align::data {

struct PairBatch {
  int64_t size = 0;
  PairShape shape;
  std::vector<float> latents_w;             // [size, C, H, W]
  std::vector<float> latents_l;             // [size, C, H, W]
  std::vector<float> prompt_embeds;         // [size, tokens, context_dim]
  std::vector<float> pooled_prompt_embeds;  // [size, pooled_dim]
  std::vector<float> time_ids;              // [size, 6]
  std::vector<int64_t> pair_ids;            // [size]
  std::vector<float> difficulty;            // [size], empty when the dataset has none
  std::vector<float> score_w, score_l;      // [size], empty when the dataset has none
  // [size, C, H, W] each, empty unless the manifest declares them (has_latent_logvar,
  // has_flipped_latents); common/dataset/latent_draws.h turns them into latents_w/l.
  std::vector<float> latents_logvar_w, latents_logvar_l;
  std::vector<float> latents_flipped_w, latents_flipped_l;
  std::vector<float> latents_flipped_logvar_w, latents_flipped_logvar_l;
};

}  // namespace align::data
