#pragma once
// One training step as one CUDA graph: forward, backward, clipping and the
// optimizer recorded once and replayed, so the host launches one graph per
// step instead of thousands of kernels. The recipe is PyTorch's "whole
// network capture" (torch.cuda.graph): a few eager warm-up steps on a side
// stream (they allocate the gradients, the optimizer state and the
// allocator's blocks), one capture into the caching allocator's private
// pool, then replays.
//
// The step must be a graph-safe step: the same shapes every time, no host
// synchronisation (no .item(), no copy to the host), no control flow on
// device values, random numbers drawn outside (inputs), and every value that
// changes per step (the data, the noise, the learning rate) read from the
// static input tensors, which Run fills before each step. What the step
// computes for the host (loss, metrics) it writes into tensors the caller
// holds and reads after Run.
//
// On the CPU every Run is the step run eagerly: all of a graph-safe step but
// the capture itself is exercised by CPU tests.

#include <functional>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"

namespace align::engine {

class StepGraph {
 public:
  // `static_inputs`: tensors on `device` the step reads. `warmup_runs`: the
  // eager steps before the capture (CUDA; PyTorch's recipe uses 3, and
  // DistributedDataParallel needs 11).
  StepGraph(torch::Device device, std::vector<torch::Tensor> static_inputs, std::function<void()> step,
            int warmup_runs = 3);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // Copies `inputs` into the static inputs (one each, same shapes and dtypes;
  // InvalidArgument otherwise, and nothing runs) and runs one step: eagerly
  // on the CPU; on CUDA eagerly on a side stream for the first warmup_runs,
  // then captured and replayed once, then replayed. Every Run is one real
  // step. A c10::Error of the step (or of the capture) propagates.
  absl::Status Run(const std::vector<torch::Tensor>& inputs);

  // Whether the step has been captured (CUDA only; false on the CPU).
  bool captured() const;
  int runs() const { return runs_; }

 private:
  void RunEagerly();

  torch::Device device_;
  std::vector<torch::Tensor> static_inputs_;
  std::function<void()> step_;
  int warmup_runs_;
  int runs_ = 0;
  struct Cuda;  // the captured graph and its streams (ALIGN_WITH_CUDA)
  std::unique_ptr<Cuda> cuda_;
};

}  // namespace align::engine
