#include "common/reward_name.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace align {
namespace {

constexpr RewardName kAll[] = {RewardName::kPickScore, RewardName::kClipScore, RewardName::kAesthetic,
                               RewardName::kHpsV2};

}  // namespace

std::string_view RewardNameString(RewardName name) {
  switch (name) {
    case RewardName::kPickScore:
      return "pickscore";
    case RewardName::kClipScore:
      return "clipscore";
    case RewardName::kAesthetic:
      return "aesthetic";
    case RewardName::kHpsV2:
      return "hpsv2";
  }
  return "unknown";
}

absl::StatusOr<RewardName> ParseRewardName(std::string_view text) {
  for (RewardName name : kAll) {
    if (RewardNameString(name) == text) return name;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown reward '", std::string(text), "' (known: pickscore, hpsv2, aesthetic, clipscore)"));
}

}  // namespace align
