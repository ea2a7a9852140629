#pragma once
// The collectives of a job's ranks on the device the worker chose: NCCL on
// CUDA where the build has it, else MPI. Shared by served jobs and
// `align-worker train`, so both set up ranks the same way.

#include <memory>

#include "absl/status/statusor.h"
#include "worker/engine/communicator.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

// Every rank calls it for the same job (under NCCL it is a collective).
// Internal naming the failure when the backend cannot be set up.
absl::StatusOr<std::unique_ptr<engine::Communicator>> MakeRankCommunicator(const DeviceChoice& device);

}  // namespace align::runner
