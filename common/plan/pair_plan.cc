#include "common/plan/pair_plan.h"

#include <numeric>
#include <stdexcept>

#include "common/random.h"

namespace align::plan {

PairPlan::PairPlan(const PairPlanConfig& config) : config_(config) {
  if (config.num_pairs <= 0 || config.pairs_per_rank <= 0 || config.grad_accum <= 0 ||
      config.world_size <= 0) {
    throw std::invalid_argument("PairPlan needs positive num_pairs, pairs_per_rank, grad_accum, world_size");
  }
}

int64_t PairPlan::pairs_per_step() const {
  return config_.pairs_per_rank * config_.grad_accum * config_.world_size;
}

std::vector<int64_t> PairPlan::EpochOrder(int64_t epoch) const {
  std::vector<int64_t> order(config_.num_pairs);
  std::iota(order.begin(), order.end(), 0);
  CounterRng rng(DeriveSeed(config_.seed, {static_cast<uint64_t>(RandomStream::kDataOrder),
                                           static_cast<uint64_t>(epoch)}));
  for (int64_t i = config_.num_pairs - 1; i > 0; --i) {
    std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
  }
  return order;
}

int64_t PairPlan::PairAt(int64_t position) const {
  const int64_t epoch = position / config_.num_pairs;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = epochs_.find(epoch);
  if (it == epochs_.end()) {
    if (epochs_.size() >= 4) epochs_.erase(epochs_.begin());
    it = epochs_.emplace(epoch, EpochOrder(epoch)).first;
  }
  return it->second[position % config_.num_pairs];
}

MicroBatchPlan PairPlan::PairsFor(int64_t step, int rank, int64_t micro) const {
  const int64_t per_micro = config_.pairs_per_rank * config_.world_size;
  const int64_t start = step * pairs_per_step() + micro * per_micro + rank * config_.pairs_per_rank;
  MicroBatchPlan plan;
  for (int64_t i = 0; i < config_.pairs_per_rank; ++i) {
    plan.positions.push_back(start + i);
    plan.pairs.push_back(PairAt(start + i));
  }
  return plan;
}

}  // namespace align::plan
