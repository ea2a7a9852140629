#pragma once
// Job ids as users see them: "job-000042" for row 42. Ids are never reused
// (the table is AUTOINCREMENT), so an old id never names a new job.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align::coordinator {

std::string FormatJobId(int64_t id);
// Accepts "job-42", "job-000042" and "42"; InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseJobId(absl::string_view text);

}  // namespace align::coordinator
