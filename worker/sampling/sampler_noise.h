#pragma once
// The noise a stochastic sampler step adds, drawn from the counter-based RNG
// (common/random.h): sample b of a batch at step i under `seed` gets the
// standard normals of the stream keyed (seed, kNoise, sampling tag, i,
// first_sample_index + b), whatever was drawn before. A resumed or re-batched
// run therefore adds exactly the noise an uninterrupted one would have.

#include <cstdint>

#include <torch/types.h>

namespace align::sampling {

// Standard normals of `shape` ([batch, ...]) in float32 on the CPU, by
// Box-Muller over 53-bit uniforms.
torch::Tensor DrawSamplerNoise(uint64_t seed, int64_t step_index, int64_t first_sample_index,
                               torch::IntArrayRef shape);

// The initial latents' noise of sample `sample_id` (before init_noise_sigma):
// standard normals of `shape` (one sample's, [C, h, w]) from the stream keyed
// (seed, kNoise, initial-noise tag, sample_id), apart from every step's.
torch::Tensor DrawInitialNoise(uint64_t seed, int64_t sample_id, torch::IntArrayRef shape);

}  // namespace align::sampling
