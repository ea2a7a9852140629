#include "worker/models/autocast.h"

#include <ATen/autocast_mode.h>

#include <atomic>

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

// WeightCastCache scopes open, process-wide: backward (and with it an
// activation recomputation) may run on another thread than the step, where
// autocast's own nesting count starts from zero.
std::atomic<int> step_cast_scopes{0};

}  // namespace

WeightCastCache::WeightCastCache() { step_cast_scopes.fetch_add(1); }

WeightCastCache::~WeightCastCache() {
  if (step_cast_scopes.fetch_sub(1) == 1) at::autocast::clear_cache();
}

bool WeightCastCache::Active() { return step_cast_scopes.load() > 0; }

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
  // Cached bf16 copies of weights are valid only within one forward, or one
  // step under a WeightCastCache.
  if (at::autocast::decrement_nesting() == 0 && !WeightCastCache::Active()) at::autocast::clear_cache();
  Apply(previous_);
}

}  // namespace align::models
