#include "coordinator/server/listen_address.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace align::coordinator {

namespace {

bool IsPort(const std::string& text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int64_t port = 0;
  return absl::SimpleAtoi(text, &port) && port <= 65535;
}

}  // namespace

absl::StatusOr<std::string> NormalizeListenAddress(const std::string& flag, const std::string& value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty address; expected host:port"));
  if (IsPort(value)) return absl::StrCat("127.0.0.1:", value);
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", value, "\" is not host:port or a port"));
  }
  const std::string host = value.substr(0, colon);
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", value, "\" names no host; write 127.0.0.1", value, " (this machine) or 0.0.0.0", value,
        " (every interface)"));
  }
  if (!IsPort(value.substr(colon + 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", value, "\": the port must be a number from 0 to 65535"));
  }
  return value;
}

}  // namespace align::coordinator
