#include "worker/reward/reward_model.h"

#include <memory>
#include <utility>

#include "common/status_macros.h"
#include "worker/reward/aesthetic_reward.h"
#include "worker/reward/clip_similarity_reward.h"

namespace align::reward {

absl::StatusOr<std::unique_ptr<RewardModel>> LoadRewardModel(RewardName name, const std::string& folder,
                                                             torch::Device device) {
  if (name == RewardName::kAesthetic) {
    ASSIGN_OR_RETURN(std::unique_ptr<AestheticReward> model, AestheticReward::Load(folder, device));
    return std::unique_ptr<RewardModel>(std::move(model));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ClipSimilarityReward> model, ClipSimilarityReward::Load(name, folder, device));
  return std::unique_ptr<RewardModel>(std::move(model));
}

}  // namespace align::reward
