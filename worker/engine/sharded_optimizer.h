#pragma once
// Sharded data parallelism over a job's ranks, as ZeRO's stage 2 does it:
// the trainable parameters live in one flat fp32 buffer (FlatParameters),
// backward accumulates into a flat gradient buffer, and each rank owns one
// contiguous shard of both. Per step:
//   1. reduce-scatter the gradient buffer (mean over ranks): each rank gets
//      the averaged gradient of its shard only;
//   2. global gradient norm from the shards: each rank's sum of squares
//      (fp64), all-reduced as one number;
//   3. clipping scales the shard; AdamW (plain or ATen's fused kernel, on the
//      one flat shard tensor) updates the shard's parameters with the
//      shard's moments, the only optimizer state this rank holds;
//   4. all-gather the parameter shards: every rank has every updated weight
//      for the next forward.
// Optimizer state is 1/world_size of the replicated one per rank. The
// gradient buffer is still whole on every rank (backward writes all of it);
// the averaged gradient is a shard.
//
// State() gathers the moments into the replicated per-parameter layout
// ("<param>.exp_avg", "<param>.exp_avg_sq", "step"), so checkpoints look the
// same whether the run was sharded or not, and either kind of run resumes
// from either kind of checkpoint, at any world size.
//
// Adafactor is not sharded: its factored second moment keeps statistics per
// row and per column of each matrix, and a flat shard cuts through matrices.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/engine/communicator.h"
#include "worker/engine/flat_parameters.h"
#include "worker/engine/optimizer.h"
#include "worker/engine/parameter_updater.h"

namespace align::engine {

class ShardedOptimizer : public ParameterUpdater {
 public:
  // Flattens `params` (which then alias the flat buffer) and shards them
  // over `comm`'s ranks. InvalidArgument for adafactor, or parameters that
  // are not fp32 on one device. Every rank must hold the same values.
  static absl::StatusOr<std::unique_ptr<ShardedOptimizer>> Create(const NamedParameters& params,
                                                                  const OptimSpec& spec, Communicator& comm);

  void ZeroGradients() override;
  void AverageGradients() override;
  double GradNorm() override;
  void ScaleGradients(double scale) override;
  void Step(double lr) override;
  std::map<std::string, torch::Tensor> State() override;
  absl::Status LoadState(const std::map<std::string, torch::Tensor>& state) override;
  int64_t StateBytes() const override;
  std::string Describe() const override;

  const FlatParameters& flat() const { return flat_; }

 private:
  ShardedOptimizer(FlatParameters flat, Communicator& comm);

  FlatParameters flat_;
  Communicator& comm_;
  torch::Tensor value_shard_;     // this rank's slice of flat_.values()
  torch::Tensor gradient_shard_;  // the averaged gradient of that slice
  // AdamW over one parameter, value_shard_ (its gradient: gradient_shard_),
  // under the name kShardName: its slots are this rank's part of the moments.
  std::unique_ptr<Optimizer> shard_optimizer_;
};

}  // namespace align::engine
