#include "worker/control/rank_messages.h"

#include <cstddef>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace align::control {

namespace {

// One tag byte, then the detail as is (it may hold any bytes).
constexpr char kJoinedTag = 'J';
constexpr char kRetryTag = 'R';
constexpr char kRefusedTag = 'X';

}  // namespace

std::string EncodeJoinVerdict(const JoinVerdict& verdict) {
  char tag = kRetryTag;
  switch (verdict.kind) {
    case JoinVerdict::Kind::kJoined:
      tag = kJoinedTag;
      break;
    case JoinVerdict::Kind::kRetry:
      tag = kRetryTag;
      break;
    case JoinVerdict::Kind::kRefused:
      tag = kRefusedTag;
      break;
  }
  return absl::StrCat(absl::string_view(&tag, 1), verdict.detail);
}

absl::StatusOr<JoinVerdict> DecodeJoinVerdict(absl::string_view encoded) {
  if (encoded.empty()) return absl::InvalidArgumentError("join verdict: empty message");
  JoinVerdict verdict;
  switch (encoded.front()) {
    case kJoinedTag:
      verdict.kind = JoinVerdict::Kind::kJoined;
      break;
    case kRetryTag:
      verdict.kind = JoinVerdict::Kind::kRetry;
      break;
    case kRefusedTag:
      verdict.kind = JoinVerdict::Kind::kRefused;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("join verdict: unknown kind '", encoded.substr(0, 1), "'"));
  }
  verdict.detail = std::string(encoded.substr(1));
  if (verdict.kind == JoinVerdict::Kind::kJoined && verdict.detail.empty()) {
    return absl::InvalidArgumentError("join verdict: joined without a group id");
  }
  return verdict;
}

// The code in decimal, ':', then the message as is.
std::string EncodeRankFailure(const RankFailure& failure) {
  return absl::StrCat(static_cast<int>(failure.code), ":", failure.message);
}

absl::StatusOr<RankFailure> DecodeRankFailure(absl::string_view encoded) {
  const size_t colon = encoded.find(':');
  int code = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(encoded.substr(0, colon), &code)) {
    return absl::InvalidArgumentError(absl::StrCat("rank failure: no code in \"", encoded.substr(0, 40), "\""));
  }
  if (code <= static_cast<int>(absl::StatusCode::kOk) || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::InvalidArgumentError(absl::StrCat("rank failure: ", code, " is not an error code"));
  }
  return RankFailure{static_cast<absl::StatusCode>(code), std::string(encoded.substr(colon + 1))};
}

}  // namespace align::control
