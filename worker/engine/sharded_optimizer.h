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
// With `optim.overlap` the parameters are flattened bucket by bucket instead
// (buckets of about `optim.bucket_mb`, in reverse registration order, each
// its own flat buffer sharded over the ranks): rank r owns part r of every
// bucket. There is no flat gradient buffer: backward accumulates into
// autograd's own gradient tensors; in the step's last backward, as soon as a
// bucket's gradients are final, they are packed, reduce-scattered into this
// rank's part of the bucket (while backward goes on) and dropped. Between
// backward and the optimizer step a rank holds the averaged shard only, not a
// whole-model gradient. The shard optimizer then steps over one tensor per
// bucket and the parts are all-gathered bucket by bucket.
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
#include <vector>

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

  ~ShardedOptimizer() override;

  void ZeroGradients() override;
  void BeforeLastBackward() override;
  void AverageGradients() override;
  double GradNorm() override;
  void ScaleGradients(double scale) override;
  void Step(double lr) override;
  std::map<std::string, torch::Tensor> State() override;
  absl::Status LoadState(const std::map<std::string, torch::Tensor>& state) override;
  int64_t StateBytes() const override;
  GradientMemory GradientBytes() const override;
  std::string Describe() const override;

 private:
  class OverlappedReduceScatter;

  ShardedOptimizer(std::vector<FlatParameters> buckets, Communicator& comm);

  // The flat buffers: one holding every parameter, or one per bucket (overlap).
  std::vector<FlatParameters> buckets_;
  Communicator& comm_;
  // The averaged gradient of this rank's shards, bucket after bucket, one
  // contiguous tensor (the norm and the clipping see it whole).
  torch::Tensor gradient_shard_;
  // Per bucket: this rank's slice of its values(), and its part of gradient_shard_.
  std::vector<torch::Tensor> value_shards_, gradient_shards_;
  // AdamW over the value shards (their gradients: the gradient shards), named
  // ShardName(b): its slots are this rank's part of the moments.
  std::unique_ptr<Optimizer> shard_optimizer_;
  std::unique_ptr<OverlappedReduceScatter> overlapped_;  // optim.overlap
  GradientMemory gradient_bytes_;
};

}  // namespace align::engine
