#pragma once
// Training-time draws from a prepared dataset's variants (manifest
// has_flipped_latents / has_latent_logvar / crop_variants): the reference
// scripts crop and flip each image and sample the VAE posterior
// (`latent_dist.sample()`) every time a pair is read; a dataset that stores
// several crops, both orientations' latents and the posterior's log-variance
// lets training do the same without the VAE:
//
//   crop     ~ uniform over the pair's stored crops, per (seed, step, pair id),
//              both images (and the time ids) together;
//   flipped  ~ Bernoulli(1/2) per (seed, step, pair id), both images of the
//              pair together, or with flip_images: each per (seed, step, pair
//              id, w/l) (the flipped latents are the VAE's encoding of the
//              flipped images: flipping a latent is not the same);
//   latent   = mean + exp(logvar / 2) * eps, eps ~ N(0, 1) per (seed, step,
//              pair id, w/l), in the stored (scaling_factor-scaled) units.
//
// Counter-based draws (common/random.h): a pair's draws do not depend on the
// rank, the batch layout or a resume, and differ from step to step.

#include <cstdint>

#include "common/dataset/flip_images.h"
#include "common/dataset/pair_batch.h"

namespace align::data {

// Whether pair `pair_id` is read flipped at `step` (both images together).
bool LatentFlipped(uint64_t seed, int64_t step, int64_t pair_id);

// Whether image `role` (0 = w, 1 = l) of pair `pair_id` is read flipped at
// `step`: LatentFlipped() for both with kTogether, an independent draw per
// image with kEach.
bool ImageFlipped(uint64_t seed, int64_t step, int64_t pair_id, int role, FlipImages flip_images);

// Which of the pair's `variants` stored crops is read at `step`, uniform in [0, variants).
int64_t CropVariant(uint64_t seed, int64_t step, int64_t pair_id, int64_t variants);

// `n` standard normals for (seed, step, pair id, role: 0 = w, 1 = l).
void LatentNoise(uint64_t seed, int64_t step, int64_t pair_id, int role, float* out, int64_t n);

// Resolves latents_w / latents_l (and time_ids) of `batch` for a training
// step: the drawn crop's tensors (with crop variants), then the flipped
// variants where ImageFlipped() (with flipped latents), then a sample of the
// posterior (with a log-variance). A batch without variants is left as is.
// Returns the number of pairs with an image read flipped.
int64_t DrawLatents(PairBatch& batch, uint64_t seed, int64_t step);

}  // namespace align::data
