#pragma once
// What the scheduler needs from the job store: worker groups take queued jobs
// in submission order, and jobs of a lost group go back to the queue. The
// WorkerService builds on this interface; JobStore implements it with one
// SQLite transaction per call, so two groups never take the same job.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/core/job_record.h"

namespace align::coordinator {

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // The oldest queued job, now running on `group_id` (attempts + 1, a
  // "started" event); nullopt when the queue is empty. Resume from
  // last_checkpoint_step when it is set.
  virtual absl::StatusOr<std::optional<JobRecord>> TakeNextQueued(const std::string& group_id) = 0;
  // Every running job of `group_id` becomes interrupted (the group stopped
  // heartbeating or disconnected). Returns those jobs.
  virtual absl::StatusOr<std::vector<JobRecord>> InterruptGroup(const std::string& group_id,
                                                                const std::string& reason) = 0;
  // Every interrupted job goes back to the queue, keeping its checkpoint.
  virtual absl::StatusOr<std::vector<JobRecord>> RequeueInterrupted() = 0;
};

}  // namespace align::coordinator
