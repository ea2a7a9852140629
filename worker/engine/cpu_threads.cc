#include "worker/engine/cpu_threads.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "worker/engine/local_rank.h"

namespace align::engine {

void UseFairShareOfCores() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(std::max(1, cores / LocalRankCount()));
}

}  // namespace align::engine
