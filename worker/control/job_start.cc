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
bool WaitForStartOnThisRank(JobMailbox& mailbox, const WorkerJobKinds& kinds, JobStart& start) {
  std::optional<Assignment> assignment = mailbox.WaitForAssignment();
  if (!assignment) return false;
  start.assignment = std::move(*assignment);
  start.spec = SpecOf(start.assignment);
  if (!start.spec.ok()) return true;  // fails at setup, on every rank alike
  absl::StatusOr<const WorkerJobKind*> kind = kinds.Find(start.spec->type);
  if (!kind.ok()) {
    start.spec = kind.status();
    return true;
  }
  start.kind = *kind;
  return start.kind->WaitForWork(mailbox, start.assignment, *start.spec, &start.work_chunks);
}

}  // namespace

absl::StatusOr<JobSpec> SpecOf(const Assignment& assignment) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(assignment.spec_yaml);
  if (!spec.ok()) return spec.status();
  return ResolveJobPaths(std::move(*spec), assignment.base_dir);
}

std::optional<JobStart> WaitForJobStart(MpiGroup& group, JobMailbox& mailbox, const WorkerJobKinds& kinds) {
  JobStart start;
  const bool ready = WaitForStartOnThisRank(mailbox, kinds, start);
  const int64_t key = ready ? JobKey(start.assignment.job_id) : -1;
  if (!group.AllEqual(key) || key < 0) return std::nullopt;
  return start;
}

}  // namespace align::control
