#pragma once
// What the ranks of a worker group tell each other over MPI
// (worker/control/mpi_group.h) when the control loop must agree: typed
// messages, each with one Encode/Decode pair, so no caller reads prefixes off
// strings. Both ends are the same binary; a message that does not decode is
// still reported (InvalidArgument) rather than misread. Plain C++.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align::control {

// Rank 0's answer from RegisterGroup, for every rank.
struct JoinVerdict {
  enum class Kind {
    kJoined,   // detail: the group id
    kRetry,    // detail: why not yet (the coordinator is unreachable, busy, ...)
    kRefused,  // detail: why never (credentials, protocol version): the group exits
  };
  Kind kind = Kind::kRetry;
  std::string detail;
};

std::string EncodeJoinVerdict(const JoinVerdict& verdict);
absl::StatusOr<JoinVerdict> DecodeJoinVerdict(absl::string_view encoded);

// The status of the rank whose error the group adopts (MpiGroup::AgreeOnError).
struct RankFailure {
  absl::StatusCode code = absl::StatusCode::kUnknown;  // never kOk
  std::string message;
};

std::string EncodeRankFailure(const RankFailure& failure);
absl::StatusOr<RankFailure> DecodeRankFailure(absl::string_view encoded);

}  // namespace align::control
