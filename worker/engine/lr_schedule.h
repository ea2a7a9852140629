#pragma once
// Learning-rate schedules as diffusers' get_scheduler defines them. The value
// for optimizer step s (0-based) is what the reference scripts use for that
// step: their scheduler advances after each optimizer step, so the first
// update of a warmup schedule uses factor 0.

#include <cstdint>

#include "common/job_spec.h"

namespace align::engine {

double LearningRate(const OptimSpec& optim, int64_t step, int64_t total_steps);

}  // namespace align::engine
