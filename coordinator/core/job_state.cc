#include "coordinator/core/job_state.h"

#include "absl/strings/str_cat.h"

namespace align::coordinator {

std::string JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kInterrupted: return "interrupted";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(absl::string_view name) {
  for (JobState state : kAllJobStates) {
    if (JobStateName(state) == name) return state;
  }
  return std::nullopt;
}

bool IsFinal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed || state == JobState::kCancelled;
}

bool CanTransition(JobState from, JobState to) {
  switch (from) {
    case JobState::kQueued:
      return to == JobState::kRunning || to == JobState::kCancelled || to == JobState::kFailed;
    case JobState::kRunning:
      return to == JobState::kSucceeded || to == JobState::kFailed || to == JobState::kCancelled ||
             to == JobState::kInterrupted;
    case JobState::kInterrupted:
      return to == JobState::kQueued || to == JobState::kCancelled || to == JobState::kFailed;
    case JobState::kSucceeded:
    case JobState::kFailed:
    case JobState::kCancelled:
      return false;
  }
  return false;
}

absl::Status CheckTransition(absl::string_view job_id, JobState from, JobState to) {
  if (CanTransition(from, to)) return absl::OkStatus();
  if (to == JobState::kCancelled && IsFinal(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot cancel ", job_id, ": it has already ", from == JobState::kCancelled ? "been " : "",
                     JobStateName(from)));
  }
  return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is ", JobStateName(from),
                                                    " and cannot become ", JobStateName(to)));
}

}  // namespace align::coordinator
