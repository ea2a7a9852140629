#include "common/dataset/latent_draws.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/random.h"

namespace align::data {
namespace {

constexpr uint64_t kFlipStream = 0x6c666c6970;    // "lflip"
constexpr uint64_t kSampleStream = 0x6c73616d70;  // "lsamp"

}  // namespace

bool LatentFlipped(uint64_t seed, int64_t step, int64_t pair_id) {
  CounterRng rng(DeriveSeed(seed, {kFlipStream, static_cast<uint64_t>(step), static_cast<uint64_t>(pair_id)}));
  return (rng.Next() >> 63) != 0;
}

void LatentNoise(uint64_t seed, int64_t step, int64_t pair_id, int role, float* out, int64_t n) {
  CounterRng rng(DeriveSeed(seed, {kSampleStream, static_cast<uint64_t>(step), static_cast<uint64_t>(pair_id),
                                   static_cast<uint64_t>(role)}));
  constexpr double kTwoPi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {  // Box-Muller
    const double u1 = (static_cast<double>(rng.Next() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(kTwoPi * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(kTwoPi * u2));
  }
}

int64_t DrawLatents(PairBatch& batch, uint64_t seed, int64_t step) {
  const bool has_flipped = !batch.latents_flipped_w.empty();
  const bool has_logvar = !batch.latents_logvar_w.empty();
  if (!has_flipped && !has_logvar) return 0;
  const int64_t n = batch.shape.latent_numel();
  int64_t flipped = 0;
  std::vector<float> eps(static_cast<size_t>(n));
  for (int64_t i = 0; i < batch.size; ++i) {
    const int64_t id = batch.pair_ids[static_cast<size_t>(i)];
    const bool flip = has_flipped && LatentFlipped(seed, step, id);
    flipped += flip ? 1 : 0;
    for (int role = 0; role < 2; ++role) {
      std::vector<float>& latents = role == 0 ? batch.latents_w : batch.latents_l;
      float* z = latents.data() + i * n;
      if (flip) {
        const std::vector<float>& source = role == 0 ? batch.latents_flipped_w : batch.latents_flipped_l;
        std::copy(source.begin() + i * n, source.begin() + (i + 1) * n, z);
      }
      if (!has_logvar) continue;
      const std::vector<float>& logvar =
          flip ? (role == 0 ? batch.latents_flipped_logvar_w : batch.latents_flipped_logvar_l)
               : (role == 0 ? batch.latents_logvar_w : batch.latents_logvar_l);
      LatentNoise(seed, step, id, role, eps.data(), n);
      const float* lv = logvar.data() + i * n;
      for (int64_t k = 0; k < n; ++k) z[k] += std::exp(0.5f * lv[k]) * eps[static_cast<size_t>(k)];
    }
  }
  return flipped;
}

}  // namespace align::data
