#pragma once
// The reward models a job can name (`reward: pickscore | hpsv2 | aesthetic |
// clipscore`) and their spelling: one place maps names to the enum, for the
// job spec, the worker and the tools. Free of LibTorch.

#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align {

enum class RewardName {
  kPickScore,  // "pickscore": PickScore_v1, exp(logit_scale) * cos
  kClipScore,  // "clipscore": torchmetrics' CLIPScore, 100 * max(cos, 0)
  kAesthetic,  // "aesthetic": LAION improved aesthetic predictor on CLIP ViT-L/14
  kHpsV2,      // "hpsv2": HPSv2 / v2.1, cos as HPSv2's scorer computes it
};

// Every name with its reward, in the order above (the job spec's name table).
const std::vector<std::pair<absl::string_view, RewardName>>& RewardNames();
// "pickscore", "clipscore", "aesthetic", "hpsv2".
std::string_view RewardNameString(RewardName name);
// The inverse; InvalidArgument listing the known names otherwise.
absl::StatusOr<RewardName> ParseRewardName(std::string_view text);

}  // namespace align
