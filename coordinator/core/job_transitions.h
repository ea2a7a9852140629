#pragma once
// Which event moves a job from which state to which: the policy the Scheduler
// and the store's InterruptGroup follow, kept beside the table of allowed
// moves (job_state.h) as plain functions. Every move returned here is one
// that CanTransition allows from the state it was given; nullopt leaves the
// job as it is, because it is no longer running (a user cancelled it while
// its group was still at work, and it stays cancelled).
//
//   what happened to a running job             it becomes
//   completed, and its kind's result is ok      succeeded
//   completed, and its kind's result is not     failed (the result's message)
//   failed, retryable, with attempts left       interrupted, then queued again
//   failed otherwise                            failed (the worker's message)
//   stopped without a cancel (preempted)        interrupted, then queued again
//   its group lost (session, lease, restart)    interrupted, then queued again
//   the coordinator cannot plan it              failed

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "coordinator/core/job_record.h"
#include "coordinator/core/job_state.h"

namespace align::coordinator {

struct JobTransition {
  JobState to = JobState::kFailed;
  std::string message;   // the event's text; the job's error when it fails
  bool requeue = false;  // to interrupted, then back in the queue at once (JobQueue::RequeueInterrupted)
};

// What a job's kind makes of a completed job (JobRun::Finish): a prepare job
// whose report shows too many failed items has not succeeded.
struct JobResult {
  bool succeeded = true;
  std::string message;
};

// A worker group's Failure report.
struct WorkerFailure {
  std::string message;
  int64_t step = 0;
  bool retryable = false;
};

// The group completed the job.
std::optional<JobTransition> AfterCompletion(JobState current, const JobResult& result);
// The group reported a failure; `attempts` counts the one that failed.
std::optional<JobTransition> AfterFailure(JobState current, const WorkerFailure& failure, int attempts,
                                          int max_attempts);
// The group stopped the job, at `step`.
std::optional<JobTransition> AfterStop(JobState current, int64_t step);
// A running job's group is gone: its session ended, its lease ran out, or the
// coordinator restarted.
JobTransition AfterGroupLoss(absl::string_view group_id, absl::string_view why);
// The job was running when the coordinator process ended (a restart, or a
// crash); `job` has this restart counted (JobStore::CountRestartStrike). One
// whose last max_attempts attempts all ended that way without progress fails
// instead of being requeued: a job that takes the coordinator down while it is
// being planned or started would otherwise do so forever, while a job that
// lost groups after progress and then meets one restart is requeued.
// nullopt: requeue it as after any group loss.
std::optional<JobTransition> AfterCoordinatorRestart(const JobRecord& job, int max_attempts);
// The progress watchdog took the job from its group (no step within its
// deadline). Requeued like a lost group while the job has attempts left; a
// job that stalls in every attempt fails instead of looping.
JobTransition AfterStall(absl::string_view group_id, absl::string_view why, int attempts, int max_attempts);
// A group took the job (it is running) but the coordinator cannot plan it.
JobTransition AfterPlanningError(absl::string_view error);

}  // namespace align::coordinator
