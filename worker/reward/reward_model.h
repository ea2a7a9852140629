#pragma once
// Reward models: score generated images against their prompts (PickScore,
// CLIP score, HPSv2) or alone (the LAION aesthetic predictor). Each reward is
// loaded from one folder; docs/reward-models.md says what each folder holds,
// the formula and where it comes from.

#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/imaging/rgb_image.h"
#include "common/reward_name.h"

namespace align::reward {

class RewardModel {
 public:
  virtual ~RewardModel() = default;
  // One score per (image, prompt) pair; images are decoded uint8 RGB of any
  // size (preprocessed inside). `prompts` has one entry per image (the
  // aesthetic reward ignores their text).
  virtual absl::StatusOr<std::vector<double>> Score(const std::vector<imaging::RgbImage>& images,
                                                    const std::vector<std::string>& prompts) = 0;
};

// Loads `name`'s model from `folder` in fp32 on `device`. A folder of another
// kind is an error naming what was expected and what was found.
absl::StatusOr<std::unique_ptr<RewardModel>> LoadRewardModel(RewardName name, const std::string& folder,
                                                             torch::Device device);

// Images per forward pass inside Score.
inline constexpr size_t kRewardBatchSize = 16;

}  // namespace align::reward
