#include "worker/tools/step_profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/tools/busy_time.h"

namespace align::tools {
namespace {

namespace kineto = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

}  // namespace

StepProfile::StepProfile(torch::Device device) {
  std::set<ActivityType> activities{ActivityType::CPU};
  if (device.is_cuda()) activities.insert(ActivityType::CUDA);
  const ProfilerConfig config(ProfilerState::KINETO);
  kineto::prepareProfiler(config, activities);
  kineto::enableProfiler(config, activities);
  recording_ = true;
}

StepProfile::~StepProfile() {
  // A profile abandoned by an exception must not keep recording.
  if (recording_) kineto::disableProfiler();
}

absl::StatusOr<ProfileSummary> StepProfile::Finish(const std::string& trace_path) {
  if (!recording_) return absl::FailedPreconditionError("the profile was already finished");
  recording_ = false;
  std::unique_ptr<kineto::ProfilerResult> result = kineto::disableProfiler();
  if (result == nullptr) return absl::InternalError("the profiler returned no result");
  const std::filesystem::path parent = std::filesystem::path(trace_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  result->save(trace_path);
  if (!std::filesystem::exists(trace_path, ec)) {
    return absl::UnavailableError(absl::StrCat("could not write the trace to ", trace_path));
  }
  ProfileSummary summary;
  std::vector<Interval> device_intervals;
  for (const kineto::KinetoEvent& event : result->events()) {
    if (event.deviceType() == c10::DeviceType::CUDA) {
      device_intervals.push_back({event.startNs(), event.endNs()});
    } else {
      ++summary.host_ops;
    }
  }
  summary.device_activities = static_cast<int64_t>(device_intervals.size());
  const BusyTime busy = MeasureBusyTime(std::move(device_intervals));
  summary.device_busy_fraction = busy.fraction();
  summary.device_span_s = static_cast<double>(busy.span_ns) * 1e-9;
  return summary;
}

}  // namespace align::tools
