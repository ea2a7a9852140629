#include "worker/engine/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace align::engine {
namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool IsEnabled(torch::Device d) { return at::autocast::is_autocast_enabled(d.type()); }
void Enable(torch::Device d, bool on) {
  at::autocast::set_autocast_dtype(d.type(), at::kBFloat16);
  at::autocast::set_autocast_enabled(d.type(), on);
}
#else
bool IsEnabled(torch::Device d) { return d.is_cuda() ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void Enable(torch::Device d, bool on) {
  if (d.is_cuda()) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(on);
  }
}
#endif

}  // namespace

AutocastScope::AutocastScope(torch::Device device, bool enabled) : device_(device), enabled_(enabled) {
  if (!enabled_) return;
  previous_ = IsEnabled(device_);
  Enable(device_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  Enable(device_, previous_);
}

}  // namespace align::engine
