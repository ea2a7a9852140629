#pragma once
// The start of a job on a worker group: each rank waits for its assignment
// and for what its kind needs before it can begin (WorkerJobKind::
// WaitForWork), then the ranks agree over
// MPI that they all hold the same job. The spec is parsed here, once per job,
// and its paths resolved against the submitter's base_dir.

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/control/job_mailbox.h"
#include "worker/control/mpi_group.h"
#include "worker/control/worker_job_kind.h"

namespace align::control {

struct JobStart {
  Assignment assignment;
  // Paths resolved. A spec that does not parse, or of a type this worker
  // does not run, fails the job when it is set up, like any other setup
  // error, rather than the group.
  absl::StatusOr<JobSpec> spec;
  const WorkerJobKind* kind = nullptr;  // set when spec is ok
  std::vector<int64_t> work_chunks;  // a chunked job's positions for this rank (prepare, generate, ...)
};

// The spec of an assignment, parsed and with its paths resolved.
absl::StatusOr<JobSpec> SpecOf(const Assignment& assignment);

// nullopt on every rank when some rank lost its session or holds another job
// than the others: the group joins the coordinator again.
std::optional<JobStart> WaitForJobStart(MpiGroup& group, JobMailbox& mailbox, const WorkerJobKinds& kinds);

}  // namespace align::control
