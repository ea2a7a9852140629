#pragma once
// Gradient reduction overlapped with backward (`optim.overlap`): a hook on
// each trainable parameter fires once autograd has accumulated its gradient;
// during the step's last backward (earlier micro-batches only accumulate),
// a bucket whose gradients are all final starts its collective at once
// (Communicator::Start*), while backward goes on with earlier layers. Finish()
// then starts what backward left (parameters it gave no gradient) and waits
// for all, in bucket order. What a bucket's collective is, and what happens
// when it is done, is the subclass's: an all-reduce of the packed gradients
// (replicated), or a reduce-scatter into this rank's shard (sharded).
//
// It also counts the gradient storage it sees (parameters' gradients and
// packed buckets in flight), for GradientBytes().

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "worker/engine/bucket_schedule.h"
#include "worker/engine/communicator.h"

namespace align::engine {

class OverlappedReduction {
 public:
  // Registers the hooks on `params` (which must outlive this object; its
  // destructor removes them). `buckets` as ReverseOrderBuckets gives them.
  OverlappedReduction(std::vector<torch::Tensor> params, std::vector<std::vector<size_t>> buckets);
  virtual ~OverlappedReduction();
  OverlappedReduction(const OverlappedReduction&) = delete;
  OverlappedReduction& operator=(const OverlappedReduction&) = delete;

  // Before a step's first backward: nothing started, no gradient counted
  // (the caller has cleared the gradients).
  void BeginStep();
  // Before the step's last backward: from now on final gradients start
  // their buckets.
  void Arm();
  // After the last backward: every bucket started and done.
  void Finish();

  // Bytes of gradient storage held now and at most since BeginStep.
  int64_t held_bytes() const { return held_bytes_; }
  int64_t peak_bytes() const { return peak_bytes_; }
  const std::vector<std::vector<size_t>>& buckets() const { return schedule_.buckets(); }

 protected:
  struct Started {
    std::unique_ptr<PendingCollective> collective;
    torch::Tensor buffer;  // what the collective reads and writes; dropped once done
  };
  // Packs bucket `b`'s gradients and starts its collective.
  virtual Started Start(size_t b) = 0;
  // After bucket `b`'s collective is done (waited on), with its buffer.
  virtual void Done(size_t b, const torch::Tensor& buffer) = 0;

  const std::vector<torch::Tensor>& params() const { return params_; }
  // Drops parameter `param`'s gradient (its values are in a packed buffer).
  void ReleaseGradient(size_t param);
  // A gradient the subclass created (zeros for a parameter backward skipped).
  void CountGradient(size_t param);

 private:
  class AccumulatedHook;
  void OnAccumulated(size_t param);
  void StartBucket(size_t b);
  void Complete(size_t b);
  void Hold(int64_t bytes);

  std::vector<torch::Tensor> params_;
  BucketSchedule schedule_;
  std::vector<Started> in_flight_;       // per bucket; empty when not started or done
  std::vector<int64_t> counted_bytes_;  // per parameter: its gradient's bytes in held_bytes_
  bool armed_ = false;
  int64_t held_bytes_ = 0, peak_bytes_ = 0;
};

}  // namespace align::engine
