#pragma once
// The torch side of `align-worker --coordinator ADDR`: sets up each assigned
// job on this rank for the serve loop (control::PrepareJobFn), by its kind: a
// train job (train_runner.h) or a prepare job (prepare_runner.h), on the
// device the process chose once (device_choice.h). Plain types, so
// worker/main.cc and the RPC side never see LibTorch.

#include <memory>

#include "absl/status/statusor.h"
#include "worker/control/job_session.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

class JobRunner {
 public:
  // Gives this rank its fair share of the host's cores for every job.
  explicit JobRunner(DeviceChoice device);

  const DeviceChoice& device() const { return device_; }

  // The ticket's spec is already parsed and its paths resolved; errors name
  // the field at fault.
  absl::StatusOr<std::unique_ptr<control::PreparedJob>> SetUp(const control::JobTicket& ticket) const;

 private:
  DeviceChoice device_;
};

}  // namespace align::runner
