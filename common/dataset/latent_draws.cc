#include "common/dataset/latent_draws.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/random.h"

namespace align::data {
namespace {

constexpr uint64_t kFlipStream = 0x6c666c6970;    // "lflip"
constexpr uint64_t kSampleStream = 0x6c73616d70;  // "lsamp"
constexpr uint64_t kCropStream = 0x6c63726f70;    // "lcrop"

// Puts crop `variant` (>= 1) of pair `i` into the crop-0 fields the rest of
// training reads.
void SelectCrop(PairBatch& batch, int64_t i, int64_t variant) {
  static constexpr std::vector<float> PairBatch::*kCropOf[][2] = {
      {&PairBatch::latents_w, &PairBatch::crop_latents_w},
      {&PairBatch::latents_l, &PairBatch::crop_latents_l},
      {&PairBatch::time_ids, &PairBatch::crop_time_ids},
      {&PairBatch::latents_logvar_w, &PairBatch::crop_latents_logvar_w},
      {&PairBatch::latents_logvar_l, &PairBatch::crop_latents_logvar_l},
      {&PairBatch::latents_flipped_w, &PairBatch::crop_latents_flipped_w},
      {&PairBatch::latents_flipped_l, &PairBatch::crop_latents_flipped_l},
      {&PairBatch::latents_flipped_logvar_w, &PairBatch::crop_latents_flipped_logvar_w},
      {&PairBatch::latents_flipped_logvar_l, &PairBatch::crop_latents_flipped_logvar_l},
  };
  const int64_t extra = batch.crop_variants - 1;
  for (const auto& [base_field, crop_field] : kCropOf) {
    std::vector<float>& base = batch.*base_field;
    const std::vector<float>& crops = batch.*crop_field;
    if (base.empty() || crops.empty()) continue;
    const int64_t n = static_cast<int64_t>(base.size()) / batch.size;
    const auto from = crops.begin() + (i * extra + variant - 1) * n;
    std::copy(from, from + n, base.begin() + i * n);
  }
}

}  // namespace

bool LatentFlipped(uint64_t seed, int64_t step, int64_t pair_id) {
  CounterRng rng(DeriveSeed(seed, {kFlipStream, static_cast<uint64_t>(step), static_cast<uint64_t>(pair_id)}));
  return (rng.Next() >> 63) != 0;
}

bool ImageFlipped(uint64_t seed, int64_t step, int64_t pair_id, int role, FlipImages flip_images) {
  if (flip_images == FlipImages::kTogether) return LatentFlipped(seed, step, pair_id);
  CounterRng rng(DeriveSeed(seed, {kFlipStream, static_cast<uint64_t>(step), static_cast<uint64_t>(pair_id),
                                   static_cast<uint64_t>(role)}));
  return (rng.Next() >> 63) != 0;
}

int64_t CropVariant(uint64_t seed, int64_t step, int64_t pair_id, int64_t variants) {
  if (variants <= 1) return 0;
  CounterRng rng(DeriveSeed(seed, {kCropStream, static_cast<uint64_t>(step), static_cast<uint64_t>(pair_id)}));
  return static_cast<int64_t>(rng.Below(static_cast<uint64_t>(variants)));
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
  if (batch.crop_variants > 1 && !batch.crop_latents_w.empty()) {
    for (int64_t i = 0; i < batch.size; ++i) {
      const int64_t variant = CropVariant(seed, step, batch.pair_ids[static_cast<size_t>(i)], batch.crop_variants);
      if (variant > 0) SelectCrop(batch, i, variant);
    }
  }
  const bool has_flipped = !batch.latents_flipped_w.empty();
  const bool has_logvar = !batch.latents_logvar_w.empty();
  if (!has_flipped && !has_logvar) return 0;
  const int64_t n = batch.shape.latent_numel();
  int64_t flipped = 0;
  std::vector<float> eps(static_cast<size_t>(n));
  for (int64_t i = 0; i < batch.size; ++i) {
    const int64_t id = batch.pair_ids[static_cast<size_t>(i)];
    bool any_flipped = false;
    for (int role = 0; role < 2; ++role) {
      const bool flip = has_flipped && ImageFlipped(seed, step, id, role, batch.flip_images);
      any_flipped = any_flipped || flip;
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
    flipped += any_flipped ? 1 : 0;
  }
  return flipped;
}

}  // namespace align::data
