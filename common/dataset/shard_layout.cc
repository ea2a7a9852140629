#include "common/dataset/shard_layout.h"

namespace align::data {

std::vector<FloatTensorSpec> FloatTensors(const PairShape& s, bool has_difficulty, bool has_scores,
                                          bool has_flipped_latents, bool has_latent_logvar) {
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
  return specs;
}

std::vector<FloatTensorSpec> FloatTensors(const Manifest& m) {
  return FloatTensors(m.shape, m.has_difficulty, m.has_scores, m.has_flipped_latents, m.has_latent_logvar);
}

std::vector<absl::string_view> AllTensorNames() {
  std::vector<absl::string_view> names;
  for (const FloatTensorSpec& spec : FloatTensors(PairShape{}, true, true, true, true)) names.push_back(spec.name);
  names.push_back(kPairIdTensor);
  return names;
}

}  // namespace align::data
