#include "worker/engine/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace align::engine {

double LearningRate(const OptimSpec& optim, int64_t step, int64_t total_steps) {
  const int64_t warmup = optim.warmup_steps;
  if (step < warmup) return optim.lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  if (optim.schedule == LrSchedule::kConstantWithWarmup) return optim.lr;
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  return optim.lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

}  // namespace align::engine
