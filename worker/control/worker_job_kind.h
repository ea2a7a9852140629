#pragma once
// A kind of job as a worker group runs it: what differs between kinds on the
// ranks, behind one interface, so the serve loop (serve.cc) runs every kind
// the same way. The coordinator's half of a kind is coordinator/core/
// job_kind.h. Each kind is one class on the torch side (worker/runner:
// TrainWorkerKind, PrepareWorkerKind), registered in a WorkerJobKinds that
// align-worker hands RunServe. Plain C++: the RPC side includes it.

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/control/job_mailbox.h"
#include "worker/control/job_session.h"

namespace align::control {

class WorkerJobKind {
 public:
  virtual ~WorkerJobKind() = default;
  virtual JobType type() const = 0;

  // On this rank, until what the job needs to begin is here (a train job: its
  // first step's plan; a prepare job: its share of the work, into
  // `work_units`). False when the session was lost first. A stop order that
  // comes first lets the job begin, only to stop at once.
  virtual bool WaitForWork(JobMailbox& mailbox, const Assignment& assignment, const JobSpec& spec,
                           std::vector<int64_t>* work_units) const = 0;

  // Whether the ranks run the job without collectives and so finish at
  // different times: the group then agrees on the outcome after every rank's
  // Run() (one rank's failure or stop is the group's).
  virtual bool ranks_finish_apart() const { return false; }

  // Loads what the job needs on this rank. Every rank calls it for the same
  // ticket; errors name the field at fault.
  virtual absl::StatusOr<std::unique_ptr<PreparedJob>> SetUp(const JobTicket& ticket) const = 0;
};

// The kinds a worker runs, by type.
class WorkerJobKinds {
 public:
  // AlreadyExists when the type has a kind.
  absl::Status Register(std::unique_ptr<const WorkerJobKind> kind);
  // InvalidArgument naming the type when this worker runs no such kind.
  absl::StatusOr<const WorkerJobKind*> Find(JobType type) const;

 private:
  std::map<JobType, std::unique_ptr<const WorkerJobKind>> kinds_;
};

}  // namespace align::control
