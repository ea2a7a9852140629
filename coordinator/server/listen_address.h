#pragma once
// What --listen and --metrics-listen accept. A bare port means this machine
// only (127.0.0.1): exposing the service to the network is a choice the
// operator writes out as host:port (0.0.0.0:PORT, or one interface's address),
// ideally behind TLS (docs/operations.md).

#include <string>

#include "absl/status/statusor.h"

namespace align::coordinator {

// "50051" -> "127.0.0.1:50051"; "host:port" and "[v6]:port" unchanged.
// InvalidArgument naming `flag` for an empty value, an empty host (":50051")
// or a port that is not a number in [0, 65535].
absl::StatusOr<std::string> NormalizeListenAddress(const std::string& flag, const std::string& value);

}  // namespace align::coordinator
