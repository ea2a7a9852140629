#pragma once
// Training-time draws from a prepared dataset's latent variants (manifest
// has_flipped_latents / has_latent_logvar): the reference scripts flip each
// image and sample the VAE posterior (`latent_dist.sample()`) every time a pair
// is read; a dataset that stores both orientations' latents and the posterior's
// log-variance lets training do the same, exactly, without the VAE:
//
//   flipped  ~ Bernoulli(1/2) per (seed, step, pair id), both images of the pair
//              together (the flipped latents are the VAE's encoding of the
//              flipped images: flipping a latent is not the same);
//   latent   = mean + exp(logvar / 2) * eps, eps ~ N(0, 1) per (seed, step,
//              pair id, w/l), in the stored (scaling_factor-scaled) units.
//
// Counter-based draws (common/random.h): a pair's draws do not depend on the
// rank, the batch layout or a resume, and differ from step to step.

#include <cstdint>

#include "common/dataset/pair_batch.h"

namespace align::data {

// Whether pair `pair_id` is read flipped at `step`.
bool LatentFlipped(uint64_t seed, int64_t step, int64_t pair_id);

// `n` standard normals for (seed, step, pair id, role: 0 = w, 1 = l).
void LatentNoise(uint64_t seed, int64_t step, int64_t pair_id, int role, float* out, int64_t n);

// Resolves latents_w / latents_l of `batch` for a training step: the flipped
// variants where LatentFlipped() (with flipped latents), then a sample of the
// posterior (with a log-variance). A batch without variants is left as is.
// Returns the number of pairs read flipped.
int64_t DrawLatents(PairBatch& batch, uint64_t seed, int64_t step);

}  // namespace align::data
