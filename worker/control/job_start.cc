#include "worker/control/job_start.h"

#include <string>
#include <utility>

namespace align::control {

namespace {

// Same job id on every rank <=> same key (FNV-1a; never negative).
int64_t JobKey(const std::string& job_id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : job_id) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h >> 1);
}

// Waits on this rank alone; false when the session was lost first.
bool WaitForStartOnThisRank(JobMailbox& mailbox, JobStart& start) {
  std::optional<Assignment> assignment = mailbox.WaitForAssignment();
  if (!assignment) return false;
  start.assignment = std::move(*assignment);
  start.spec = SpecOf(start.assignment);
  if (!start.spec.ok()) return true;  // fails at setup, on every rank alike
  const std::string& job_id = start.assignment.job_id;
  // A stop order that came first lets the job start, only to stop at once
  // and be reported stopped.
  if (start.spec->type == JobType::kTrain && start.assignment.resume_step < start.spec->steps) {
    return mailbox.WaitForPlan(job_id, start.assignment.resume_step) || mailbox.StopRequested(job_id);
  }
  if (start.spec->type == JobType::kPrepare) {
    std::optional<std::vector<int64_t>> chunks = mailbox.WaitForPrepareChunks(job_id);
    if (chunks) start.prepare_chunks = std::move(*chunks);
    return chunks.has_value() || mailbox.StopRequested(job_id);
  }
  return true;
}

}  // namespace

absl::StatusOr<JobSpec> SpecOf(const Assignment& assignment) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(assignment.spec_yaml);
  if (!spec.ok()) return spec.status();
  return ResolveJobPaths(std::move(*spec), assignment.base_dir);
}

std::optional<JobStart> WaitForJobStart(MpiGroup& group, JobMailbox& mailbox) {
  JobStart start;
  const bool ready = WaitForStartOnThisRank(mailbox, start);
  const int64_t key = ready ? JobKey(start.assignment.job_id) : -1;
  if (!group.AllEqual(key) || key < 0) return std::nullopt;
  return start;
}

}  // namespace align::control
