#include "coordinator/core/job_id.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace align::coordinator {

std::string FormatJobId(int64_t id) { return absl::StrFormat("job-%06d", id); }

absl::StatusOr<int64_t> ParseJobId(absl::string_view text) {
  absl::string_view digits = text;
  absl::ConsumePrefix(&digits, "job-");
  int64_t id = 0;
  const bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit);
  if (!all_digits || !absl::SimpleAtoi(digits, &id) || id < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_id: \"", text, "\" is not a job id (expected job-<number>, e.g. job-000042)"));
  }
  return id;
}

}  // namespace align::coordinator
