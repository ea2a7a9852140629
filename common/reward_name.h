#pragma once
// The reward models a job can name (`reward: pickscore | hpsv2 | aesthetic |
// clipscore`) and their spelling: one place maps names to the enum, for the
// job spec, the worker and the tools. Free of LibTorch.

#include <string_view>

#include "absl/status/statusor.h"

namespace align {

enum class RewardName {
  kPickScore,  // "pickscore": PickScore_v1, exp(logit_scale) * cos
  kClipScore,  // "clipscore": torchmetrics' CLIPScore, 100 * max(cos, 0)
  kAesthetic,  // "aesthetic": LAION improved aesthetic predictor on CLIP ViT-L/14
  kHpsV2,      // "hpsv2": HPSv2 / v2.1, cos as HPSv2's scorer computes it
};

// "pickscore", "clipscore", "aesthetic", "hpsv2".
std::string_view RewardNameString(RewardName name);
// The inverse; InvalidArgument listing the known names otherwise.
absl::StatusOr<RewardName> ParseRewardName(std::string_view text);

}  // namespace align
