#include "common/reward_name.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace align {

const std::vector<std::pair<absl::string_view, RewardName>>& RewardNames() {
  static const auto* const names = new std::vector<std::pair<absl::string_view, RewardName>>{
      {"pickscore", RewardName::kPickScore},
      {"clipscore", RewardName::kClipScore},
      {"aesthetic", RewardName::kAesthetic},
      {"hpsv2", RewardName::kHpsV2}};
  return *names;
}

std::string RewardNameText(RewardName reward) {
  for (const auto& [name, value] : RewardNames()) {
    if (value == reward) return std::string(name);
  }
  return "unknown";
}

absl::StatusOr<RewardName> ParseRewardName(absl::string_view text) {
  std::string known;
  for (const auto& [name, value] : RewardNames()) {
    if (name == text) return value;
    absl::StrAppend(&known, known.empty() ? "" : ", ", name);
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not one of ", known));
}

}  // namespace align
