#include "common/curriculum/prompt_list.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/file_util.h"
#include "common/prepare/utf8_repair.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::curriculum {
namespace {

absl::Status LineError(const std::string& path, int64_t line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", message));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReadPrompts(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  const bool jsonl = absl::EndsWithIgnoreCase(path, ".jsonl");
  std::vector<std::string> prompts;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::string repaired;
    if (prepare::RepairUtf8(line, &repaired) != 0) return LineError(path, line_number, "is not valid UTF-8");
    std::string prompt;
    if (jsonl) {
      const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object()) return LineError(path, line_number, "is not a JSON object");
      const char* key = record.contains("prompt") ? "prompt" : "caption";
      if (!record.contains(key) || !record[key].is_string()) {
        return LineError(path, line_number, "has no \"prompt\" (or \"caption\") string");
      }
      prompt = record[key].get<std::string>();
    } else {
      prompt = std::string(line);
    }
    if (static_cast<int64_t>(prompt.size()) > kMaxPromptBytes) {
      return LineError(path, line_number,
                       absl::StrCat("the prompt is ", prompt.size(), " bytes; at most ", kMaxPromptBytes));
    }
    if (static_cast<int64_t>(prompts.size()) == kMaxPrompts) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": more than ", kMaxPrompts, " prompts"));
    }
    prompts.push_back(std::move(prompt));
  }
  if (prompts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no prompt"));
  return prompts;
}

}  // namespace align::curriculum
