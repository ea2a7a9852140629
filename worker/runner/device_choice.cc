#include "worker/runner/device_choice.h"

#include <torch/cuda.h>

#include "absl/strings/str_cat.h"
#include "worker/engine/local_rank.h"

namespace align::runner {

absl::StatusOr<DeviceChoice> DecideDevice(absl::string_view flag, int cuda_devices, int local_rank) {
  if (flag != "auto" && flag != "cpu" && flag != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--device ", flag, ": expected auto, cpu or cuda"));
  }
  if (flag == "cuda" && cuda_devices <= 0) {
    return absl::FailedPreconditionError("--device cuda, but this process sees no CUDA device");
  }
  DeviceChoice choice;
  if (flag != "cpu" && cuda_devices > 0) {
    choice.kind = DeviceKind::kCuda;
    choice.index = local_rank % cuda_devices;
  }
  return choice;
}

absl::StatusOr<DeviceChoice> ChooseWorkerDevice(absl::string_view flag) {
  const int devices = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  return DecideDevice(flag, devices, engine::LocalRank());
}

absl::StatusOr<DeviceChoice> JobDevice(const DeviceChoice& worker, absl::string_view spec_device) {
  if (spec_device == "cpu") return DeviceChoice{};
  if (spec_device == "cuda" && worker.kind != DeviceKind::kCuda) {
    return absl::FailedPreconditionError(
        "device: cuda requested but not available (this worker computes on the cpu)");
  }
  return worker;
}

absl::StatusOr<JobSpec> SpecOnJobDevice(const DeviceChoice& worker, const JobSpec& spec, DeviceChoice* device) {
  absl::StatusOr<DeviceChoice> chosen = JobDevice(worker, spec.device);
  if (!chosen.ok()) return chosen.status();
  if (device != nullptr) *device = *chosen;
  JobSpec on_device = spec;
  on_device.device = chosen->name();
  return on_device;
}

}  // namespace align::runner
