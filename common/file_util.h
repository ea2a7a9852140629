#pragma once
// Whole-file reads and atomic writes with errors that name the path.

#include <string>

#include "absl/status/statusor.h"

namespace align {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
// Writes through `path.tmp` renamed into place: readers see the old or the new
// file, never a partial one.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace align
