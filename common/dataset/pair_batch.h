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
  // With crop_variants K > 1: crops 1 .. K-1 of each of the above (those
  // present) and of time_ids, [size, K - 1, ...] (the fields above hold crop 0).
  std::vector<float> crop_latents_w, crop_latents_l, crop_time_ids;
  std::vector<float> crop_latents_logvar_w, crop_latents_logvar_l;
  std::vector<float> crop_latents_flipped_w, crop_latents_flipped_l;
  std::vector<float> crop_latents_flipped_logvar_w, crop_latents_flipped_logvar_l;
  // The manifest's: how the variants are drawn (latent_draws.h).
  int64_t crop_variants = 1;
  FlipImages flip_images = FlipImages::kTogether;
};

}  // namespace align::data
