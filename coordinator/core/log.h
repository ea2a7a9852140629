#pragma once
// One line per event on stderr, UTC-stamped, whole lines even from many
// threads: what an operator's journal (systemd) or a test log collects.

#include "absl/strings/string_view.h"

namespace align::coordinator {

void LogLine(absl::string_view message);

}  // namespace align::coordinator
