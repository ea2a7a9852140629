#pragma once
// The prompts of a generate job: a .txt file (one prompt per line) or a .jsonl
// file (one object per line with "prompt", or "caption" as Pick-a-Pic and
// the prepare input write it). Blank lines are skipped; a prompt's index is
// its position among the prompts. Read identically by the coordinator (to
// plan chunks) and by every rank (to find a chunk's prompts).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::curriculum {

inline constexpr int64_t kMaxPrompts = 10'000'000;
inline constexpr int64_t kMaxPromptBytes = 16384;

// InvalidArgument naming the file and line for: no prompt at all, invalid
// UTF-8, a malformed JSON line or one without a string prompt, a prompt over
// kMaxPromptBytes, more than kMaxPrompts prompts.
absl::StatusOr<std::vector<std::string>> ReadPrompts(const std::string& path);

}  // namespace align::curriculum
