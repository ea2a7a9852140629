#pragma once
// A train job as a worker runs it, served for a coordinator: it starts once
// its first step's plan is here; on every rank, a communicator on the job's
// device, the trainer with the coordinator's plan and reporting hooks, and
// the outcome of its run. LibTorch side.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/control/job_session.h"
#include "worker/control/worker_job_kind.h"
#include "worker/engine/communicator.h"
#include "worker/engine/plan_source.h"
#include "worker/engine/trainer.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

// engine::CreateTrainer with LibTorch's exceptions turned into its Status:
// how served jobs and `align-worker train` set up a trainer.
absl::StatusOr<std::unique_ptr<engine::Trainer>> SetUpTrainer(const JobSpec& spec, engine::Communicator& comm,
                                                              std::unique_ptr<engine::PlanSource> plan,
                                                              engine::TrainerHooks hooks,
                                                              engine::RunIdentity identity = {});

class TrainWorkerKind : public control::WorkerJobKind {
 public:
  explicit TrainWorkerKind(DeviceChoice device) : device_(device) {}
  JobType type() const override { return JobType::kTrain; }
  bool WaitForWork(control::JobMailbox& mailbox, const control::Assignment& assignment, const JobSpec& spec,
                   std::vector<int64_t>* work_units) const override;
  // Every rank calls it for the same spec, so setting up the communicator (a
  // collective under NCCL) leaves no rank behind.
  absl::StatusOr<std::unique_ptr<control::PreparedJob>> SetUp(const control::JobTicket& ticket) const override;

 private:
  DeviceChoice device_;  // the worker's
};

}  // namespace align::runner
