#pragma once
// Captions arrive as bytes of unknown quality. JSON parsers (nlohmann's
// included) refuse a whole line over one invalid byte; the reference
// tokenizer would have seen bytes.decode("utf-8", errors="replace"). Repairing
// first keeps such an item, with the same U+FFFD characters the tokenizer
// would produce, instead of dropping it.

#include <string>

#include "absl/strings/string_view.h"

namespace align::prepare {

// Each maximal ill-formed subsequence becomes U+FFFD (Python's
// errors="replace", Unicode ch. 3). Returns the number of replacements.
int RepairUtf8(absl::string_view in, std::string* out);

}  // namespace align::prepare
