#include "worker/engine/device_memory.h"

#ifdef ALIGN_WITH_CUDA
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

void SynchronizeDevice(torch::Device device) {
#ifdef ALIGN_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
#endif
  (void)device;
}

}  // namespace align::engine
