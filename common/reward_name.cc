#include "common/reward_name.h"

#include <string>

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

std::string_view RewardNameString(RewardName name) {
  for (const auto& [text, value] : RewardNames()) {
    if (value == name) return std::string_view(text.data(), text.size());
  }
  return "unknown";
}

absl::StatusOr<RewardName> ParseRewardName(std::string_view text) {
  std::string known;
  for (const auto& [name, value] : RewardNames()) {
    if (std::string_view(name.data(), name.size()) == text) return value;
    absl::StrAppend(&known, known.empty() ? "" : ", ", name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown reward \"", absl::string_view(text.data(), text.size()), "\" (known: ", known, ")"));
}

}  // namespace align
