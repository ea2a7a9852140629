#pragma once

#include <cstdint>

// Timestep embeddings: diffusers' get_timestep_embedding (Timesteps) and
// TimestepEmbedding (linear, SiLU, linear).

#include "worker/models/layers.h"

namespace align::models {

// Sinusoidal embedding of `timesteps` [N] into [N, dim], computed in fp32:
// exp(-ln(10000) * i / (dim/2 - freq_shift)) for i < dim/2, sin then cos
// (cos then sin when flip_sin_to_cos), zero-padded when dim is odd.
torch::Tensor SinusoidalEmbedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                  double freq_shift);

class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t embed_dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

}  // namespace align::models
