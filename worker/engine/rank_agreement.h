#pragma once
// Failures that every rank of a job agrees on. Ranks read different pairs, so one rank can meet
// a bad pair (a non-finite latent, a truncated shard) while the others read good ones; if that
// rank alone returned, its peers would wait forever in the next collective, or MPI would abort
// the whole worker group. Agreeing first keeps every rank on the same path: the job fails, with
// one message, and the group lives on to take the next job.

#include "absl/status/status.h"
#include "worker/engine/communicator.h"

namespace align::engine {

// Collective: every rank calls it at the same point with its own status. OK on every rank when
// every rank's is OK; otherwise, on every rank, Aborted with the lowest failing rank's message
// ("rank R: ..."), the code of an error every rank has stopped for.
absl::Status AgreeOnFailure(Communicator& comm, const absl::Status& mine);

}  // namespace align::engine
