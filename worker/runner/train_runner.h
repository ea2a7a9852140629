#pragma once
// A train job on this rank, served for a coordinator: its communicator on the
// job's device, the trainer with the coordinator's plan and reporting hooks,
// and the outcome of its run. LibTorch side.

#include <memory>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/control/job_session.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

// `spec` is the ticket's, with `device` resolved to `device`'s name. Every
// rank calls it for the same spec, so setting up the communicator (a
// collective under NCCL) leaves no rank behind.
absl::StatusOr<std::unique_ptr<control::PreparedJob>> SetUpTrainJob(const control::JobTicket& ticket,
                                                                    const JobSpec& spec, const DeviceChoice& device);

}  // namespace align::runner
