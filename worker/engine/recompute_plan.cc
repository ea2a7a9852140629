#include "worker/engine/recompute_plan.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace align::engine {

absl::StatusOr<ActivationFigures> ExtrapolateToSamples(const ActivationFigures& one, const ActivationFigures& two,
                                                       int64_t samples) {
  if (samples < 1) return absl::InvalidArgumentError(absl::StrCat("samples must be >= 1, got ", samples));
  if (one.blocks.size() != two.blocks.size()) {
    return absl::InternalError(absl::StrCat("measured ", one.blocks.size(), " recompute blocks at 1 sample but ",
                                            two.blocks.size(), " at 2"));
  }
  // value(n) = value(1) + (n - 1) * (value(2) - value(1)); a per-sample
  // slope below 0 is measurement noise (allocator rounding), read as 0.
  const auto bytes_at = [samples](int64_t at_one, int64_t at_two) {
    return at_one + (samples - 1) * std::max<int64_t>(0, at_two - at_one);
  };
  ActivationFigures out;
  out.activation_bytes = bytes_at(one.activation_bytes, two.activation_bytes);
  for (size_t i = 0; i < one.blocks.size(); ++i) {
    const RecomputeBlockCost& a = one.blocks[i];
    const RecomputeBlockCost& b = two.blocks[i];
    if (a.name != b.name) {
      return absl::InternalError(absl::StrCat("recompute block ", i, " is ", a.name, " at 1 sample but ", b.name,
                                              " at 2"));
    }
    out.blocks.push_back({a.name, bytes_at(a.saved_bytes, b.saved_bytes),
                          a.recompute_flops + (samples - 1) * std::max(0.0, b.recompute_flops - a.recompute_flops)});
  }
  return out;
}

int64_t EstimateBytes(const ActivationFigures& figures, int64_t fixed_bytes, const std::vector<bool>& recomputed) {
  int64_t kept = figures.activation_bytes;
  int64_t largest_recomputed = 0;
  for (size_t i = 0; i < figures.blocks.size(); ++i) {
    if (i >= recomputed.size() || !recomputed[i]) continue;
    kept -= figures.blocks[i].saved_bytes;
    largest_recomputed = std::max(largest_recomputed, figures.blocks[i].saved_bytes);
  }
  return fixed_bytes + std::max<int64_t>(0, kept) + largest_recomputed;
}

absl::StatusOr<RecomputePlan> PlanRecompute(const ActivationFigures& figures, int64_t fixed_bytes,
                                            int64_t budget_bytes) {
  const size_t n = figures.blocks.size();
  std::vector<bool> recomputed(n, false);
  const auto fits = [&] { return EstimateBytes(figures, fixed_bytes, recomputed) <= budget_bytes; };

  if (!fits()) {
    const std::vector<bool> all(n, true);
    const int64_t at_full = EstimateBytes(figures, fixed_bytes, all);
    if (at_full > budget_bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "gradient_checkpointing: auto: the step does not fit the memory budget even with every block "
          "recomputed: estimated ", GiB(at_full), " (", at_full, " bytes, of which weights, gradients and optimizer "
          "state ", fixed_bytes, ") against a budget of ", GiB(budget_bytes), " (", budget_bytes,
          " bytes); raise memory_budget_gib or lower batch.pairs_per_rank"));
    }
    // Most bytes saved per recompute FLOP first; ties in forward order.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    const auto& b = figures.blocks;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return static_cast<double>(b[x].saved_bytes) * b[y].recompute_flops >
             static_cast<double>(b[y].saved_bytes) * b[x].recompute_flops;
    });
    std::vector<size_t> added;
    for (size_t i : order) {
      if (fits()) break;
      recomputed[i] = true;
      added.push_back(i);
    }
    // A block added early can have become unnecessary once a larger one was
    // added: drop what still fits without, the costliest first.
    std::stable_sort(added.begin(), added.end(),
                     [&](size_t x, size_t y) { return b[x].recompute_flops > b[y].recompute_flops; });
    for (size_t i : added) {
      recomputed[i] = false;
      if (!fits()) recomputed[i] = true;
    }
  }

  RecomputePlan plan;
  plan.budget_bytes = budget_bytes;
  plan.estimated_bytes = EstimateBytes(figures, fixed_bytes, recomputed);
  plan.activation_bytes = figures.activation_bytes;
  for (size_t i = 0; i < n; ++i) {
    if (!recomputed[i]) continue;
    plan.recomputed.push_back(figures.blocks[i].name);
    plan.activation_bytes -= figures.blocks[i].saved_bytes;
    plan.recompute_flops += figures.blocks[i].recompute_flops;
  }
  plan.activation_bytes = std::max<int64_t>(0, plan.activation_bytes);
  return plan;
}

std::string GiB(int64_t bytes) {
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
}

std::string DescribeRecomputePlan(const RecomputePlan& plan, size_t total_blocks) {
  return absl::StrCat(plan.recomputed.size(), " of ", total_blocks, " blocks recomputed",
                      plan.recomputed.empty() ? "" : absl::StrCat(" (", absl::StrJoin(plan.recomputed, ", "), ")"),
                      "; estimated ", GiB(plan.estimated_bytes), " (", plan.estimated_bytes, " bytes, activations ",
                      plan.activation_bytes, ") of a ", GiB(plan.budget_bytes), " budget; ",
                      absl::StrFormat("%.3g", plan.recompute_flops / 1e12), " TFLOP recomputed per micro-batch");
}

}  // namespace align::engine
