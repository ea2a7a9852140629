#pragma once
// LoRA (Hu et al. 2021) as peft implements it for diffusers' UNet: a frozen
// layer y = W x + b gains a trainable low-rank update
//   y += scale * B(A(dropout(x))),  scale = alpha / rank,
// with A ("down", rank x in) kaiming-uniform(a = sqrt(5)) and B ("up",
// out x rank) zero at the start, so training starts from the base model.
// Linear layers and 1x1 convolutions (proj_in/proj_out when the UNet has no
// linear projection) can be adapted. The adapter is registered as the
// submodule "lora" of the layer it adapts, so its parameters are named
// "<layer>.lora.down.weight" / "<layer>.lora.up.weight": diffusers' keys
// without their "unet." prefix.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "worker/models/layers.h"

namespace align::models {

struct LoraConfig {
  int64_t rank = 4;
  double alpha = 4;    // scale = alpha / rank
  double dropout = 0;  // on the adapter's input, in training mode only
  double scale() const { return alpha / static_cast<double>(rank); }
};

// One weight matrix of an adapter ("down" or "up"), named like a layer's.
class LoraMatrixImpl : public torch::nn::Module {
 public:
  explicit LoraMatrixImpl(torch::Tensor value);
  torch::Tensor weight;
};
TORCH_MODULE(LoraMatrix);

class LoraImpl : public torch::nn::Module, public LayerAdapter {
 public:
  // conv: the adapted layer is a 1x1 Conv2d; down/up are [rank, in, 1, 1] and
  // [out, rank, 1, 1] as peft makes them. Both start at zero (see Initialize).
  LoraImpl(int64_t in_features, int64_t out_features, const LoraConfig& config, bool conv,
           const torch::TensorOptions& options);

  bool active() const override { return enabled_; }
  torch::Tensor forward(const torch::Tensor& x) override;

  void set_enabled(bool enabled) { enabled_ = enabled; }
  const LoraConfig& config() const { return config_; }
  bool conv() const { return conv_; }
  // scale * B A as the base weight's shape ([out, in] or [out, in, 1, 1]), fp32.
  torch::Tensor Delta() const;

  LoraMatrix down{nullptr}, up{nullptr};

 private:
  LoraConfig config_;
  bool conv_;
  bool enabled_ = true;
};
TORCH_MODULE(Lora);

// The layer names "ff" stands for: the feed-forward's two projections.
std::vector<std::string> ExpandLoraTargets(const std::vector<std::string>& targets);

// Adds an adapter to every Linear or 1x1 Conv2d of `model` whose name matches
// a target as peft's target_modules do: the name equals it or ends in
// "." + target (after ExpandLoraTargets). Adapters are fp32 on the layer's
// device, A drawn from `seed` (in module order, on the CPU: the same numbers
// on every device), B zero. Returns the adapted layers' names; an error when
// none matched, a target names a layer of another kind, or a layer already
// has an adapter.
absl::StatusOr<std::vector<std::string>> InjectLora(torch::nn::Module& model, const std::vector<std::string>& targets,
                                                    const LoraConfig& config, uint64_t seed);

// The adapters of `model` by the adapted layer's name, in module order.
std::vector<std::pair<std::string, Lora>> FindLora(torch::nn::Module& model);

// Switches every adapter on or off: off, the model computes its base output
// (a LoRA policy doubles as its own frozen reference).
void SetLoraEnabled(torch::nn::Module& model, bool enabled);

// RAII: adapters off for a scope, on again after.
class LoraDisabledScope {
 public:
  explicit LoraDisabledScope(torch::nn::Module& model);
  ~LoraDisabledScope();
  LoraDisabledScope(const LoraDisabledScope&) = delete;
  LoraDisabledScope& operator=(const LoraDisabledScope&) = delete;

 private:
  torch::nn::Module& model_;
};

// The adapters' parameters, "<layer>.lora.down.weight" / ".lora.up.weight".
std::vector<std::pair<std::string, torch::Tensor>> LoraParameters(torch::nn::Module& model);

// Global L2 norm over every adapter weight (0 without adapters).
double LoraNorm(torch::nn::Module& model);

}  // namespace align::models
