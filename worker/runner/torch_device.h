#pragma once
// The LibTorch device of a DeviceChoice (device_choice.h stays free of LibTorch).

#include <torch/types.h>

#include "worker/runner/device_choice.h"

namespace align::runner {

inline torch::Device TorchDevice(const DeviceChoice& device) {
  return device.kind == DeviceKind::kCuda ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device.index))
                                          : torch::Device(torch::kCPU);
}

}  // namespace align::runner
