#pragma once
// Where this worker process computes: decided once, from --device and the
// CUDA devices the process sees, and used both for the group's registration
// (its device capability) and for every job it runs. Plain types, so
// worker/main.cc can hold one without LibTorch.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/job_spec.h"

namespace align::runner {

enum class DeviceKind { kCpu, kCuda };

struct DeviceChoice {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;  // CUDA: this rank's local rank modulo the host's devices (rank r of a node uses device r)
  // "cpu" or "cuda": the capability the coordinator matches jobs to, and a spec's `device`.
  std::string name() const { return kind == DeviceKind::kCuda ? "cuda" : "cpu"; }
};

// `flag`: auto (CUDA when the host has a device), cpu, or cuda (an error
// without a device).
absl::StatusOr<DeviceChoice> DecideDevice(absl::string_view flag, int cuda_devices, int local_rank);

// DecideDevice with what LibTorch sees and the launcher's local rank.
absl::StatusOr<DeviceChoice> ChooseWorkerDevice(absl::string_view flag);

// Where a job whose spec says `spec_device` (auto | cpu | cuda) runs on a
// worker that chose `worker`: on the CPU when either says so, else on the
// worker's device; FailedPrecondition when the spec needs CUDA the worker
// does not use.
absl::StatusOr<DeviceChoice> JobDevice(const DeviceChoice& worker, absl::string_view spec_device);

// `spec` with its `device` set to where it runs (JobDevice), which is also
// written to `device` when given: the trainer and the encoders place their
// models by the spec, so they agree with the communicator and the worker.
absl::StatusOr<JobSpec> SpecOnJobDevice(const DeviceChoice& worker, const JobSpec& spec,
                                        DeviceChoice* device = nullptr);

}  // namespace align::runner
