#include "worker/engine/device_memory.h"

#ifdef ALIGN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>
#endif

namespace align::engine {

int64_t PeakDeviceMemoryBytes(torch::Device device) {
#ifdef ALIGN_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[0].peak;  // index 0: all pools together
  }
#endif
  (void)device;
  return 0;
}

int64_t AllocatedDeviceBytes(torch::Device device) {
#ifdef ALIGN_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[0].current;
  }
#endif
  (void)device;
  return 0;
}

int64_t TotalDeviceMemoryBytes(torch::Device device) {
#ifdef ALIGN_WITH_CUDA
  if (device.is_cuda()) return static_cast<int64_t>(at::cuda::getDeviceProperties(device.index())->totalGlobalMem);
#endif
  (void)device;
  return 0;
}

void SynchronizeDevice(torch::Device device) {
#ifdef ALIGN_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
#endif
  (void)device;
}

}  // namespace align::engine
