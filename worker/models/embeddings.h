#pragma once

#include <cstdint>

// Timestep embeddings: diffusers' get_timestep_embedding (Timesteps),
// TimestepEmbedding (linear, SiLU, linear) and the guidance-scale embedding
// of latent consistency models.

#include "worker/models/layers.h"

namespace align::models {

// Sinusoidal embedding of `timesteps` [N] into [N, dim], computed in fp32:
// exp(-ln(10000) * i / (dim/2 - freq_shift)) for i < dim/2, sin then cos
// (cos then sin when flip_sin_to_cos), zero-padded when dim is odd.
torch::Tensor SinusoidalEmbedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                  double freq_shift);

// `cond_proj_dim` > 0 adds cond_proj, Linear(cond_proj_dim, in_channels, no
// bias), whose output is added to the input before linear_1 (LCM UNets feed
// the guidance-scale embedding through it).
// LatentConsistencyModelPipeline.get_guidance_scale_embedding: w [N] (the
// pipelines pass guidance_scale - 1) into [N, dim] fp32, with w scaled by 1000,
// frequencies exp(-ln(10000) * i / (dim/2 - 1)) for i < dim/2, sin then cos,
// zero-padded when dim is odd.
torch::Tensor GuidanceScaleEmbedding(const torch::Tensor& w, int64_t dim);

class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim, const torch::TensorOptions& options,
                        int64_t cond_proj_dim = 0);
  // `condition` [N, cond_proj_dim]; must be defined exactly when cond_proj exists.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& condition = {});

 private:
  Linear linear_1{nullptr}, linear_2{nullptr}, cond_proj{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

}  // namespace align::models
