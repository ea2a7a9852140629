#pragma once
// The torch side of `align-worker --coordinator ADDR`: the kinds of job this
// worker runs (control::WorkerJobKinds: train_runner.h, prepare_runner.h), on
// the device the process chose once (device_choice.h). Adding a kind of job
// on the workers means writing its WorkerJobKind and registering it here.

#include "absl/status/statusor.h"
#include "worker/control/worker_job_kind.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

// Also gives this rank its fair share of the host's cores for every job.
absl::StatusOr<control::WorkerJobKinds> BuiltInWorkerJobKinds(const DeviceChoice& device);

}  // namespace align::runner
