#include "common/dataset/shard_layout.h"

namespace align::data {

std::vector<FloatTensorSpec> FloatTensors(const PairShape& s, bool has_difficulty, bool has_scores) {
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
  return specs;
}

std::vector<absl::string_view> AllTensorNames() {
  std::vector<absl::string_view> names;
  for (const FloatTensorSpec& spec : FloatTensors(PairShape{}, true, true)) names.push_back(spec.name);
  names.push_back(kPairIdTensor);
  return names;
}

}  // namespace align::data
