#pragma once
// A job's life cycle. The allowed transitions live here, in one table, so the
// store, the services and the docs (docs/protocol.md) agree on them:
//   queued      -> running | cancelled | failed
//   running     -> succeeded | failed | cancelled | interrupted
//   interrupted -> queued | cancelled | failed
//   succeeded, failed, cancelled: final

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace align::coordinator {

enum class JobState { kQueued, kRunning, kInterrupted, kSucceeded, kFailed, kCancelled };

inline constexpr JobState kAllJobStates[] = {JobState::kQueued,    JobState::kRunning, JobState::kInterrupted,
                                             JobState::kSucceeded, JobState::kFailed,  JobState::kCancelled};

// "queued", "running", ...: the names stored in the database and shown to users.
std::string JobStateName(JobState state);
std::optional<JobState> ParseJobState(absl::string_view name);
bool IsFinal(JobState state);
bool CanTransition(JobState from, JobState to);
// FailedPrecondition naming the job and both states when the move is not allowed.
absl::Status CheckTransition(absl::string_view job_id, JobState from, JobState to);

}  // namespace align::coordinator
