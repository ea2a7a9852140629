#include "worker/runner/torch_errors.h"

#include <c10/util/Exception.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace align::runner {

absl::Status CatchTorchErrors(const std::function<absl::Status()>& call, absl::string_view context) {
  try {
    return call();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(context, e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(context, e.what()));
  }
}

}  // namespace align::runner
