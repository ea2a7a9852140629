#pragma once
// The reward models a job can name (`reward:` in a score or evaluate spec;
// docs/reward-models.md): one name table for the spec, the worker that loads
// the model and the reports that show it.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align {

enum class RewardName { kPickScore, kClipScore, kAesthetic, kHpsV2 };

// {"pickscore", kPickScore}, {"clipscore", ...}, {"aesthetic", ...}, {"hpsv2", ...}.
const std::vector<std::pair<absl::string_view, RewardName>>& RewardNames();
std::string RewardNameText(RewardName reward);
// InvalidArgument listing the names when `text` is none of them.
absl::StatusOr<RewardName> ParseRewardName(absl::string_view text);

}  // namespace align
