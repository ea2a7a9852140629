#include "worker/runner/job_runner.h"

#include <utility>

#include "common/job_spec.h"
#include "worker/engine/cpu_threads.h"
#include "worker/runner/prepare_runner.h"
#include "worker/runner/train_runner.h"

namespace align::runner {

JobRunner::JobRunner(DeviceChoice device) : device_(device) { engine::UseFairShareOfCores(); }

absl::StatusOr<std::unique_ptr<control::PreparedJob>> JobRunner::SetUp(const control::JobTicket& ticket) const {
  absl::StatusOr<DeviceChoice> device = JobDevice(device_, ticket.spec.device);
  if (!device.ok()) return device.status();
  // The trainer and the encoders pick their device from the spec: name the
  // one chosen here, so they agree with the communicator and the worker.
  JobSpec spec = ticket.spec;
  spec.device = device->name();
  if (spec.type == JobType::kPrepare) return SetUpPrepareJob(ticket, spec);
  return SetUpTrainJob(ticket, spec, *device);
}

}  // namespace align::runner
