#include "worker/engine/cpu_threads.h"

#include <sched.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "worker/engine/local_rank.h"

namespace align::engine {

int FairShareOfCores() {
  const int host = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    const int bound = CPU_COUNT(&allowed);
    if (bound > 0 && bound < host) return bound;
  }
  return std::max(1, host / LocalRankCount());
}

void UseFairShareOfCores() { torch::set_num_threads(FairShareOfCores()); }

}  // namespace align::engine
