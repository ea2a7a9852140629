#include "worker/models/flop_counter.h"

namespace align::models {
namespace {
thread_local ScopedFlopCount* active = nullptr;
}  // namespace

ScopedFlopCount::ScopedFlopCount() : outer_(active) { active = this; }
ScopedFlopCount::~ScopedFlopCount() { active = outer_; }

void CountFlops(double flops) {
  if (active != nullptr) active->flops_ += flops;
}

}  // namespace align::models
