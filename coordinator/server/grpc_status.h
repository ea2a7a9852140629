#pragma once
// absl::Status <-> grpc::Status: the codes share numbers, so this is a cast
// plus the message.

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace align::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status);
// "OK", "INVALID_ARGUMENT", ...: metric labels and client messages.
std::string GrpcCodeName(grpc::StatusCode code);

}  // namespace align::coordinator
