#pragma once
// User text (job names, cancel reasons, failure messages) is shown on
// terminals and in line-oriented logs. A newline in it would fake a line of
// output (a made-up event in `alignctl events`); an escape sequence would
// drive the terminal. Every human-readable output passes user text through
// here; JSON output needs none of it (its encoder escapes).

#include <string>

#include "absl/strings/string_view.h"

namespace align {

// C0 controls and DEL as \n, \r, \t or \xNN, a backslash as \\, C1 controls
// (U+0080..U+009F) as \u0080..\u009f; everything else (printable ASCII, other
// UTF-8, even invalid bytes >= 0x80) unchanged.
std::string EscapeControlCharacters(absl::string_view text);

}  // namespace align
