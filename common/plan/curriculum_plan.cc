#include "common/plan/curriculum_plan.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <stdexcept>

#include "common/random.h"

namespace align::plan {

CurriculumPlan::CurriculumPlan(const CurriculumConfig& config, const std::vector<float>& difficulty)
    : config_(config) {
  const PairPlanConfig& base = config.base;
  if (base.num_pairs <= 0 || base.pairs_per_rank <= 0 || base.grad_accum <= 0 || base.world_size <= 0 ||
      config.stages <= 0 || config.steps_per_stage <= 0) {
    throw std::invalid_argument(
        "CurriculumPlan needs positive num_pairs, pairs_per_rank, grad_accum, world_size, stages, steps_per_stage");
  }
  if (static_cast<int64_t>(difficulty.size()) != base.num_pairs) {
    throw std::invalid_argument("CurriculumPlan: one difficulty per pair is needed");
  }
  order_.resize(base.num_pairs);
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](int64_t a, int64_t b) { return difficulty[a] < difficulty[b]; });
  if (config.pools_by_level) {
    const std::set<float> levels(difficulty.begin(), difficulty.end());
    if (static_cast<int64_t>(levels.size()) > config.stages) {
      throw std::invalid_argument("CurriculumPlan: more difficulty levels than stages");
    }
    // Stage k: every pair up to the k-th lowest level; stages past the last
    // level hold every pair.
    int64_t end = 0;
    auto level = levels.begin();
    for (int64_t stage = 0; stage < config.stages; ++stage) {
      if (level != levels.end()) {
        while (end < base.num_pairs && difficulty[order_[end]] <= *level) ++end;
        ++level;
      } else {
        end = base.num_pairs;
      }
      pool_ends_.push_back(end);
    }
  }
}

int64_t CurriculumPlan::StageOf(int64_t step) const {
  return std::min(std::max<int64_t>(step, 0) / config_.steps_per_stage, config_.stages - 1);
}

int64_t DifficultyLevels(const std::vector<float>& difficulty) {
  return static_cast<int64_t>(std::set<float>(difficulty.begin(), difficulty.end()).size());
}

int64_t CurriculumPlan::PoolSize(int64_t stage) const {
  const int64_t n = config_.base.num_pairs;
  if (!pool_ends_.empty()) return pool_ends_[std::min(std::max<int64_t>(stage, 0), config_.stages - 1)];
  const int64_t k = std::min(std::max<int64_t>(stage, 0), config_.stages - 1) + 1;
  return std::max<int64_t>(1, (k * n + config_.stages - 1) / config_.stages);
}

std::vector<int64_t> CurriculumPlan::EpochOrder(int64_t stage, int64_t epoch) const {
  const int64_t pool = PoolSize(stage);
  std::vector<int64_t> order(order_.begin(), order_.begin() + pool);
  CounterRng rng(DeriveSeed(config_.base.seed, {static_cast<uint64_t>(RandomStream::kCurriculumOrder),
                                                static_cast<uint64_t>(stage), static_cast<uint64_t>(epoch)}));
  for (int64_t i = pool - 1; i > 0; --i) std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
  return order;
}

int64_t CurriculumPlan::PairAt(int64_t stage, int64_t local_position) const {
  const int64_t pool = PoolSize(stage);
  const std::pair<int64_t, int64_t> key{stage, local_position / pool};
  std::lock_guard<std::mutex> lock(mu_);
  auto it = epochs_.find(key);
  if (it == epochs_.end()) {
    if (epochs_.size() >= 4) epochs_.erase(epochs_.begin());
    it = epochs_.emplace(key, EpochOrder(key.first, key.second)).first;
  }
  return it->second[local_position % pool];
}

MicroBatchPlan CurriculumPlan::PairsFor(int64_t step, int rank, int64_t micro) const {
  const PairPlanConfig& c = config_.base;
  const int64_t per_step = c.pairs_per_rank * c.grad_accum * c.world_size;
  const int64_t offset = micro * c.pairs_per_rank * c.world_size + rank * c.pairs_per_rank;
  const int64_t stage = StageOf(step);
  const int64_t local_start = (step - StageStart(stage)) * per_step + offset;
  MicroBatchPlan plan;
  for (int64_t i = 0; i < c.pairs_per_rank; ++i) {
    plan.positions.push_back(step * per_step + offset + i);
    plan.pairs.push_back(PairAt(stage, local_start + i));
  }
  return plan;
}

}  // namespace align::plan
