#pragma once
// Waiting on work that runs elsewhere (a non-blocking NCCL communicator being
// created, a collective on the GPU) without waiting forever: poll until it is
// done, has failed, or a deadline passes. Plain C++, so the rules are tested
// on machines without a GPU; worker/engine/nccl_communicator.cc supplies the polls.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace align::engine {

enum class AsyncState { kDone, kPending, kFailed };

struct AsyncPoll {
  AsyncState state = AsyncState::kDone;
  std::string error;  // kFailed: why
};

// Polls `poll` every `interval` until it is not pending. OK when done;
// Unavailable "<what>: <error>" when it failed; DeadlineExceeded "<what> did
// not finish within <timeout>" when still pending after `timeout`.
absl::Status WaitUntilDone(const std::function<AsyncPoll()>& poll, absl::Duration timeout, absl::string_view what,
                           absl::Duration interval = absl::Milliseconds(1));

// Every rank's outcome of a step all ranks take together (one flag per rank,
// 1: failed there, as gathered from every rank), folded into what this rank
// returns: its own error when it failed, else Unavailable naming the ranks
// that did ("<what> failed on rank 2, 3"), else OK. So when one rank cannot
// create its communicator, none goes on to wait for it in a collective.
absl::Status AgreeOnOutcome(const std::vector<double>& failed_by_rank, int rank, const absl::Status& own,
                            absl::string_view what);

// How long a rank waits for NCCL: creating the communicator (ncclCommInitRank
// on every rank) and any one collective. From ALIGN_NCCL_INIT_TIMEOUT_S and
// ALIGN_NCCL_TIMEOUT_S (seconds, > 0) when set; a value that is not a
// positive number is an error naming the variable.
struct NcclTimeouts {
  absl::Duration init = absl::Minutes(5);
  absl::Duration collective = absl::Minutes(30);
};
absl::Status ReadNcclTimeouts(const std::function<const char*(const char*)>& getenv, NcclTimeouts* timeouts);

}  // namespace align::engine
