#pragma once
// Which of the UNet's recompute blocks to recompute so that a training step
// fits a memory budget (`gradient_checkpointing: auto`, docs/training.md).
// Plain arithmetic over measured figures (recompute_block_costs.h measures
// them): no LibTorch, so the choice is testable on its own.
//
// The estimate of a step's device memory with the set R recomputed:
//   fixed_bytes                                 weights, gradients, optimizer state, ...
// + activation_bytes - sum over R of saved(b)   what the forward keeps for backward
// + max over R of saved(b)                      backward recomputes one block at a time
// where saved(b) is what block b keeps when not recomputed and does not when
// recomputed. Recomputing a block never raises the estimate.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::engine {

struct RecomputeBlockCost {
  std::string name;          // "down.1.0", "mid", ... (UNet2DConditionModelImpl)
  int64_t saved_bytes = 0;   // activations it keeps for backward unless recomputed
  double recompute_flops = 0;  // its forward: what recomputing it costs again
};

struct ActivationFigures {
  std::vector<RecomputeBlockCost> blocks;  // in forward order
  // Everything a training forward keeps for backward with nothing recomputed
  // (the blocks' saved_bytes included).
  int64_t activation_bytes = 0;
};

// Figures measured at 1 and at 2 samples per forward, extrapolated to
// `samples` (bytes and FLOPs are affine in the batch: per-sample activations
// plus per-forward ones such as bf16 copies of the weights). The two must list
// the same blocks.
absl::StatusOr<ActivationFigures> ExtrapolateToSamples(const ActivationFigures& one, const ActivationFigures& two,
                                                       int64_t samples);

struct RecomputePlan {
  std::vector<std::string> recomputed;  // in forward order
  int64_t estimated_bytes = 0;          // the estimate above, with this set
  int64_t activation_bytes = 0;         // of which kept by the forward
  double recompute_flops = 0;           // extra forward FLOPs per micro-batch
  int64_t budget_bytes = 0;
};

// The estimate above for `recomputed[i]` (block i, as figures.blocks).
int64_t EstimateBytes(const ActivationFigures& figures, int64_t fixed_bytes, const std::vector<bool>& recomputed);

// The set that fits `budget_bytes` at the least recompute FLOPs, greedily:
// blocks are added in order of bytes saved per FLOP (most first) until the
// estimate fits, then any added block whose removal still fits is dropped
// (costliest first). Nothing recomputed when everything fits already.
// FailedPrecondition, with the estimate at full recomputation and the budget,
// when even recomputing every block does not fit.
absl::StatusOr<RecomputePlan> PlanRecompute(const ActivationFigures& figures, int64_t fixed_bytes,
                                            int64_t budget_bytes);

// "2 of 16 blocks recomputed (down.2.0, mid), estimate 10.3 GiB of a 12.0 GiB budget, ..." for logs.
std::string DescribeRecomputePlan(const RecomputePlan& plan, size_t total_blocks);

// Bytes as GiB with one decimal ("10.3 GiB").
std::string GiB(int64_t bytes);

}  // namespace align::engine
