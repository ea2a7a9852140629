#pragma once
// JSONL input: one JSON object per line with `caption`, `image_0`, `image_1`
// (paths relative to the JSONL file's directory, or absolute) and `label_0`.
// Blank lines are skipped; every other line is one item, its id the count of
// non-blank lines before it.

#include <string>

#include "absl/status/statusor.h"
#include "common/prepare/input_index.h"

namespace align::prepare {

absl::StatusOr<InputIndex> IndexJsonl(const std::string& path);

}  // namespace align::prepare
