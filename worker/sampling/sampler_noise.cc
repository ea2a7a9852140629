#include "worker/sampling/sampler_noise.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>

#include "common/random.h"

namespace align::sampling {
namespace {

// Separate sampler noise from the training noise drawn under RandomStream::kNoise.
constexpr uint64_t kSamplerStepTag = 0x53414d504c455231ull;
constexpr uint64_t kInitialNoiseTag = 0x494e49544e4f4953ull;  // "INITNOIS"
constexpr double kTwoPi = 6.283185307179586;

// Uniform in (0, 1]: never 0, so that log() stays finite.
double OpenUniform(CounterRng& rng) { return (static_cast<double>(rng.Next() >> 11) + 1.0) * 0x1.0p-53; }

void FillNormals(CounterRng& rng, float* out, int64_t n) {
  for (int64_t k = 0; k < n; k += 2) {
    const double radius = std::sqrt(-2.0 * std::log(OpenUniform(rng)));
    const double angle = kTwoPi * OpenUniform(rng);
    out[k] = static_cast<float>(radius * std::cos(angle));
    if (k + 1 < n) out[k + 1] = static_cast<float>(radius * std::sin(angle));
  }
}

}  // namespace

torch::Tensor DrawSamplerNoise(uint64_t seed, int64_t step_index, int64_t first_sample_index,
                               torch::IntArrayRef shape) {
  TORCH_CHECK(!shape.empty(), "noise shape must have a batch dimension");
  torch::Tensor noise = torch::empty(shape, torch::TensorOptions().dtype(torch::kFloat));
  const int64_t batch = shape[0];
  const int64_t per_sample = batch == 0 ? 0 : noise.numel() / batch;
  float* data = noise.data_ptr<float>();
  for (int64_t b = 0; b < batch; ++b) {
    CounterRng rng(DeriveSeed(seed, {static_cast<uint64_t>(RandomStream::kNoise), kSamplerStepTag,
                                     static_cast<uint64_t>(step_index),
                                     static_cast<uint64_t>(first_sample_index + b)}));
    FillNormals(rng, data + b * per_sample, per_sample);
  }
  return noise;
}

torch::Tensor DrawInitialNoise(uint64_t seed, int64_t sample_id, torch::IntArrayRef shape) {
  torch::Tensor noise = torch::empty(shape, torch::TensorOptions().dtype(torch::kFloat));
  CounterRng rng(DeriveSeed(seed, {static_cast<uint64_t>(RandomStream::kNoise), kInitialNoiseTag,
                                   static_cast<uint64_t>(sample_id)}));
  FillNormals(rng, noise.data_ptr<float>(), noise.numel());
  return noise;
}

}  // namespace align::sampling
