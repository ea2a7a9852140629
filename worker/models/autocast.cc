#include "worker/models/autocast.h"

#include <ATen/autocast_mode.h>

namespace align::models {
namespace {

bool IsEnabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
void Enable(c10::DeviceType type, bool on) {
  at::autocast::set_autocast_dtype(type, at::kBFloat16);
  at::autocast::set_autocast_enabled(type, on);
}

void Apply(const AutocastState& state) {
  Enable(c10::DeviceType::CPU, state.cpu);
  Enable(c10::DeviceType::CUDA, state.cuda);
}

}  // namespace

AutocastState CurrentAutocast() {
  return AutocastState{IsEnabled(c10::DeviceType::CPU), IsEnabled(c10::DeviceType::CUDA)};
}

AutocastScope::AutocastScope(torch::Device device, bool enabled) : previous_(CurrentAutocast()) {
  AutocastState next = previous_;
  if (enabled) (device.is_cuda() ? next.cuda : next.cpu) = true;
  Apply(next);
  at::autocast::increment_nesting();
}

AutocastScope::AutocastScope(const AutocastState& state) : previous_(CurrentAutocast()) {
  Apply(state);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  // Cached bf16 copies of weights are valid only within one forward.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  Apply(previous_);
}

}  // namespace align::models
