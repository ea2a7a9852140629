#include "common/dataset/shard_layout.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace align::data {
namespace {

// A crop variant tensor per (base tensor, crop field), in file order.
struct CropTensor {
  absl::string_view name, base;
  std::vector<float> PairBatch::*field;
};

}  // namespace

std::vector<FloatTensorSpec> FloatTensors(const PairShape& s, bool has_difficulty, bool has_scores,
                                          bool has_flipped_latents, bool has_latent_logvar, int64_t crop_variants) {
  const std::vector<int64_t> latent = {s.latent_channels, s.latent_height, s.latent_width};
  std::vector<FloatTensorSpec> specs = {
      {"latents_w", {s.latent_channels, s.latent_height, s.latent_width}, &PairBatch::latents_w},
      {"latents_l", {s.latent_channels, s.latent_height, s.latent_width}, &PairBatch::latents_l},
      {"prompt_embeds", {s.tokens, s.context_dim}, &PairBatch::prompt_embeds},
      {"pooled_prompt_embeds", {s.pooled_dim}, &PairBatch::pooled_prompt_embeds},
      {"time_ids", {kTimeIdsPerPair}, &PairBatch::time_ids},
  };
  if (has_difficulty) specs.push_back({"difficulty", {}, &PairBatch::difficulty});
  if (has_scores) {
    specs.push_back({"score_w", {}, &PairBatch::score_w});
    specs.push_back({"score_l", {}, &PairBatch::score_l});
  }
  if (has_latent_logvar) {
    specs.push_back({"latents_logvar_w", latent, &PairBatch::latents_logvar_w});
    specs.push_back({"latents_logvar_l", latent, &PairBatch::latents_logvar_l});
  }
  if (has_flipped_latents) {
    specs.push_back({"latents_flipped_w", latent, &PairBatch::latents_flipped_w});
    specs.push_back({"latents_flipped_l", latent, &PairBatch::latents_flipped_l});
    if (has_latent_logvar) {
      specs.push_back({"latents_flipped_logvar_w", latent, &PairBatch::latents_flipped_logvar_w});
      specs.push_back({"latents_flipped_logvar_l", latent, &PairBatch::latents_flipped_logvar_l});
    }
  }
  if (crop_variants > 1) {
    static const CropTensor kCrops[] = {
        {"crop_latents_w", "latents_w", &PairBatch::crop_latents_w},
        {"crop_latents_l", "latents_l", &PairBatch::crop_latents_l},
        {"crop_time_ids", "time_ids", &PairBatch::crop_time_ids},
        {"crop_latents_logvar_w", "latents_logvar_w", &PairBatch::crop_latents_logvar_w},
        {"crop_latents_logvar_l", "latents_logvar_l", &PairBatch::crop_latents_logvar_l},
        {"crop_latents_flipped_w", "latents_flipped_w", &PairBatch::crop_latents_flipped_w},
        {"crop_latents_flipped_l", "latents_flipped_l", &PairBatch::crop_latents_flipped_l},
        {"crop_latents_flipped_logvar_w", "latents_flipped_logvar_w", &PairBatch::crop_latents_flipped_logvar_w},
        {"crop_latents_flipped_logvar_l", "latents_flipped_logvar_l", &PairBatch::crop_latents_flipped_logvar_l},
    };
    const size_t base_count = specs.size();
    for (const CropTensor& crop : kCrops) {
      for (size_t i = 0; i < base_count; ++i) {
        if (specs[i].name != crop.base) continue;
        std::vector<int64_t> row_shape = {crop_variants - 1};
        row_shape.insert(row_shape.end(), specs[i].row_shape.begin(), specs[i].row_shape.end());
        specs.push_back({crop.name, std::move(row_shape), crop.field});
      }
    }
  }
  return specs;
}

std::vector<FloatTensorSpec> FloatTensors(const Manifest& m) {
  return FloatTensors(m.shape, m.has_difficulty, m.has_scores, m.has_flipped_latents, m.has_latent_logvar,
                      m.crop_variants);
}

std::vector<absl::string_view> AllTensorNames() {
  std::vector<absl::string_view> names;
  for (const FloatTensorSpec& spec : FloatTensors(PairShape{}, true, true, true, true, 2)) names.push_back(spec.name);
  names.push_back(kPairIdTensor);
  return names;
}

}  // namespace align::data
