#pragma once
// Device memory figures for metrics and benchmarks (0 where unknown, e.g. CPU
// or builds without CUDA).

#include <cstdint>

#include <torch/types.h>

namespace align::engine {

// Peak bytes allocated by the CUDA caching allocator on `device` since start.
int64_t PeakDeviceMemoryBytes(torch::Device device);
// Bytes the CUDA caching allocator has handed out on `device` now.
int64_t AllocatedDeviceBytes(torch::Device device);
// The device's total memory (what cudaGetDeviceProperties reports).
int64_t TotalDeviceMemoryBytes(torch::Device device);
// Waits for queued device work, so wall-clock timings include it.
void SynchronizeDevice(torch::Device device);

}  // namespace align::engine
