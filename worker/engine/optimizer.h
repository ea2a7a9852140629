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
