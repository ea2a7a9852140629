#pragma once
// The torch side of `align-worker --coordinator ADDR`: sets up and runs one
// assigned job with the trainer (worker/engine/trainer.h), reporting through
// control::JobReporter. Declared with plain types only (worker/control/
// job_session.h), so worker/main.cc and the RPC side never see LibTorch.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/control/job_session.h"

namespace align::tools {

// Parses the spec, resolves its paths against the ticket's base_dir, picks
// the device, and builds the trainer with the ticket's plan source. Errors
// name the field at fault.
absl::StatusOr<std::unique_ptr<control::PreparedJob>> PrepareAssignedJob(const control::JobTicket& ticket);

// "cuda" when a CUDA device is visible, else "cpu": the group's capability.
std::string LocalDeviceName();

}  // namespace align::tools
