#pragma once
// A Kineto trace of what runs while a StepProfile is recording (align-bench
// --profile records one training step): Chrome-trace JSON that Perfetto,
// chrome://tracing and trace summarisers read, and the counts align-bench
// reports beside its speed.

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace align::tools {

struct ProfileSummary {
  // Operators dispatched on the host (ATen ops, nested ones included).
  int64_t host_ops = 0;
  // Device activities: kernels, copies and memsets (what a GPU trace
  // summariser counts as launches); 0 on the CPU.
  int64_t device_activities = 0;
  // Union of the device activities' time over their span (0 on the CPU).
  double device_busy_fraction = 0;
  double device_span_s = 0;
};

class StepProfile {
 public:
  // Starts recording host ops, and device activities when `device` is CUDA.
  explicit StepProfile(torch::Device device);
  ~StepProfile();
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;

  // Stops recording, writes the trace to `trace_path` and summarises it.
  absl::StatusOr<ProfileSummary> Finish(const std::string& trace_path);

 private:
  bool recording_ = false;
};

}  // namespace align::tools
