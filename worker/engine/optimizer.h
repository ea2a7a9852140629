#pragma once
// Optimizers over fp32 master parameters, with their state exposed by name so
// that checkpoints store it in safetensors and a resumed run continues exactly.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "common/job_spec.h"

namespace align::engine {

using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter that has a gradient, at learning rate `lr`.
  virtual void Step(double lr) = 0;
  // Step without host synchronisation and without a host value that changes
  // from step to step, for a captured CUDA graph (worker/engine/step_graph.h):
  // `lr` is a 0-dim fp32 tensor on the parameters' device, read when the
  // update runs; `skip` a 0-dim fp32 tensor there, 1 or 0: at 1 nothing is
  // updated and the step is not counted (as when the caller skips Step).
  // A parameter without a gradient is left alone, as by Step (in a captured
  // graph: the gradients that existed at the capture). Only the fused AdamW
  // (optim.fused) has it; the others throw (c10::Error), and say so in
  // CanStepOnDevice.
  virtual void StepOnDevice(const torch::Tensor& lr, const torch::Tensor& skip);
  virtual absl::Status CanStepOnDevice() const;
  // "<param>.<slot>" -> tensor, plus "step".
  virtual std::map<std::string, torch::Tensor> State() const = 0;
  virtual absl::Status LoadState(const std::map<std::string, torch::Tensor>& state) = 0;
};

// AdamW with PyTorch's semantics (decoupled weight decay, bias correction).
std::unique_ptr<Optimizer> MakeAdamW(NamedParameters params, const OptimSpec& spec);
// Adafactor as transformers implements it with relative_step=False,
// scale_parameter=False, warmup_init=False (Diffusion-DPO's SDXL recipe):
// factored second moments for matrices and conv kernels, update clipping at
// RMS 1, no first moment.
std::unique_ptr<Optimizer> MakeAdafactor(NamedParameters params, const OptimSpec& spec);
std::unique_ptr<Optimizer> MakeOptimizer(NamedParameters params, const OptimSpec& spec);

}  // namespace align::engine
