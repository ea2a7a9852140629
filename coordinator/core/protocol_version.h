#pragma once
// The WorkerService protocol version (proto/align/v1/worker_service.proto).
// Bump the minor for added fields or messages old peers may ignore; bump the
// major, and peers refuse each other, for anything else.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace align::coordinator {

inline constexpr uint32_t kProtocolMajor = 1;
inline constexpr uint32_t kProtocolMinor = 2;

// FailedPrecondition for a peer speaking another major version (0 means the
// peer did not set the field at all).
inline absl::Status CheckProtocolVersion(uint32_t major, uint32_t minor) {
  if (major == kProtocolMajor) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "protocol_version: worker speaks ", major, ".", minor, ", this coordinator speaks ", kProtocolMajor, ".",
      kProtocolMinor, major == 0 ? " (the worker did not send a version)" : "",
      "; run an align-worker built from the same release"));
}

}  // namespace align::coordinator
