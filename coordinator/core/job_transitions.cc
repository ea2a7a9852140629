#include "coordinator/core/job_transitions.h"

#include "absl/strings/str_cat.h"

namespace align::coordinator {

std::optional<JobTransition> AfterCompletion(JobState current, const JobResult& result) {
  if (current != JobState::kRunning) return std::nullopt;
  return JobTransition{result.succeeded ? JobState::kSucceeded : JobState::kFailed, result.message, false};
}

std::optional<JobTransition> AfterFailure(JobState current, const WorkerFailure& failure, int attempts,
                                          int max_attempts) {
  if (current != JobState::kRunning) return std::nullopt;
  if (failure.retryable && attempts < max_attempts) {
    return JobTransition{
        JobState::kInterrupted,
        absl::StrCat("attempt ", attempts, " failed at step ", failure.step, ": ", failure.message, " (retrying)"),
        true};
  }
  return JobTransition{JobState::kFailed, failure.message, false};
}

std::optional<JobTransition> AfterStop(JobState current, int64_t step) {
  // Stopped after a cancel: the cancel already moved it, and it stays cancelled.
  if (current != JobState::kRunning) return std::nullopt;
  return JobTransition{JobState::kInterrupted, absl::StrCat("stopped after step ", step), true};
}

JobTransition AfterGroupLoss(absl::string_view group_id, absl::string_view why) {
  return JobTransition{JobState::kInterrupted, absl::StrCat("worker group ", group_id, " lost: ", why), true};
}

std::optional<JobTransition> AfterCoordinatorRestart(const JobRecord& job, int max_attempts) {
  if (job.restart_strikes < max_attempts) return std::nullopt;
  return JobTransition{JobState::kFailed,
                       absl::StrCat("the coordinator stopped while this job was starting, in each of its last ",
                                    job.restart_strikes, " attempts (max_attempts ", max_attempts,
                                    "): it is failed rather than started again, in case it is what stops the "
                                    "coordinator; its log says why"),
                       false};
}

JobTransition AfterStall(absl::string_view group_id, absl::string_view why, int attempts, int max_attempts) {
  if (attempts < max_attempts) return AfterGroupLoss(group_id, why);
  return JobTransition{JobState::kFailed,
                       absl::StrCat(why, "; it stalled in attempt ", attempts, " of max_attempts ", max_attempts),
                       false};
}

JobTransition AfterPlanningError(absl::string_view error) {
  return JobTransition{JobState::kFailed, absl::StrCat("the coordinator cannot plan this job: ", error), false};
}

}  // namespace align::coordinator
