#pragma once
// The one place where the torch side turns an exception into a job's Status:
// LibTorch reports shape and device errors as c10::Error, the standard
// library as std::exception; a job must fail with the message, never take
// the process down.

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace align::runner {

// `call`'s Status, or Internal with `context` and the exception's message
// (c10::Error's without its backtrace).
absl::Status CatchTorchErrors(const std::function<absl::Status()>& call, absl::string_view context = {});

}  // namespace align::runner
