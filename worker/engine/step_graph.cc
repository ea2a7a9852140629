#include "worker/engine/step_graph.h"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#ifdef ALIGN_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace align::engine {

struct StepGraph::Cuda {
#ifdef ALIGN_WITH_CUDA
  at::cuda::CUDAGraph graph;
  bool captured = false;
#endif
};

StepGraph::StepGraph(torch::Device device, std::vector<torch::Tensor> static_inputs, std::function<void()> step,
                     int warmup_runs)
    : device_(device),
      static_inputs_(std::move(static_inputs)),
      step_(std::move(step)),
      warmup_runs_(warmup_runs),
      // A CUDAGraph touches the CUDA runtime when made: only for a CUDA device.
      cuda_(device.is_cuda() ? std::make_unique<Cuda>() : nullptr) {}

StepGraph::~StepGraph() = default;

bool StepGraph::captured() const {
#ifdef ALIGN_WITH_CUDA
  return cuda_ != nullptr && cuda_->captured;
#else
  return false;
#endif
}

void StepGraph::RunEagerly() { step_(); }

absl::Status StepGraph::Run(const std::vector<torch::Tensor>& inputs) {
  if (inputs.size() != static_inputs_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("StepGraph: ", inputs.size(), " inputs for ", static_inputs_.size(), " static inputs"));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].sizes() != static_inputs_[i].sizes() || inputs[i].scalar_type() != static_inputs_[i].scalar_type()) {
      return absl::InvalidArgumentError(absl::StrCat("StepGraph: input ", i, " differs from the captured one in shape or dtype"));
    }
  }
  {
    // On the current stream: the step (warm-up, capture or replay) is ordered after them.
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < inputs.size(); ++i) static_inputs_[i].copy_(inputs[i]);
  }
  ++runs_;
  if (!device_.is_cuda()) {
    RunEagerly();
    return absl::OkStatus();
  }
#ifdef ALIGN_WITH_CUDA
  const c10::cuda::CUDAGuard on_device(device_);
  if (!cuda_->captured) {
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device_.index());
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index());
    c10::cuda::CUDAEvent inputs_copied;
    inputs_copied.record(current);
    inputs_copied.block(side);
    {
      const c10::cuda::CUDAStreamGuard on_side(side);
      if (runs_ <= warmup_runs_) {
        RunEagerly();
      } else {
        // As torch.cuda.graph: nothing in flight, and the cached blocks
        // returned so that the private pool can have the memory.
        c10::cuda::device_synchronize();
        c10::cuda::CUDACachingAllocator::emptyCache();
        cuda_->graph.capture_begin();
        try {
          RunEagerly();  // recorded, not run
        } catch (...) {
          // The stream must leave capture mode before anything else runs on it.
          try {
            cuda_->graph.capture_end();
          } catch (...) {
          }
          throw;
        }
        cuda_->graph.capture_end();
        cuda_->captured = true;
      }
    }
    c10::cuda::CUDAEvent step_done;
    step_done.record(side);
    step_done.block(current);
    if (!cuda_->captured) return absl::OkStatus();
  }
  // The captured step did not run: its first replay is this Run's step.
  cuda_->graph.replay();
  return absl::OkStatus();
#else
  return absl::FailedPreconditionError("StepGraph: this build has no CUDA");
#endif
}

}  // namespace align::engine
