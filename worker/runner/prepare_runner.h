#pragma once
// A prepare job as a worker runs it, served for a coordinator: it starts once
// the coordinator has sent this rank its share of the chunks, and encodes
// them. Ranks share nothing but storage, so there is no communicator; the
// serve loop agrees on the outcome once every rank is done. LibTorch side
// (the encoders).

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/control/job_session.h"
#include "worker/control/worker_job_kind.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

class PrepareWorkerKind : public control::WorkerJobKind {
 public:
  explicit PrepareWorkerKind(DeviceChoice device) : device_(device) {}
  JobType type() const override { return JobType::kPrepare; }
  // Its chunk positions, into `work_units`.
  bool WaitForWork(control::JobMailbox& mailbox, const control::Assignment& assignment, const JobSpec& spec,
                   std::vector<int64_t>* work_units) const override;
  bool ranks_finish_apart() const override { return true; }
  absl::StatusOr<std::unique_ptr<control::PreparedJob>> SetUp(const control::JobTicket& ticket) const override;

 private:
  DeviceChoice device_;  // the worker's
};

}  // namespace align::runner
