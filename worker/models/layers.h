#pragma once

#include <cstdint>
#include <memory>

// The leaf layers the diffusion models are built from. They mirror torch.nn's
// Linear / Conv2d / GroupNorm / LayerNorm parameter names ("weight", "bias") so
// that weight file keys map one to one, but create their parameters with the
// caller's TensorOptions: a model can be built directly in bf16, on CUDA, or on
// the meta device (shapes only, no memory). Parameters start uninitialised;
// weights come from a weights file or from InitializeRandomWeights().

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace align::models {

// A trainable addition to a layer's output computed from the layer's input:
// LoRA's low-rank update (worker/models/lora.h). Plain layers have none.
class LayerAdapter {
 public:
  virtual ~LayerAdapter() = default;
  // False: the layer computes its base output only (adapters switched off).
  virtual bool active() const = 0;
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
             const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;
  std::shared_ptr<LayerAdapter> adapter;  // added to the output when active
};
TORCH_MODULE(Linear);

class Conv2dImpl : public torch::nn::Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
             int64_t padding, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t kernel_size() const { return weight.size(-1); }

  torch::Tensor weight, bias;
  std::shared_ptr<LayerAdapter> adapter;  // added to the output when active

 private:
  int64_t stride_, padding_;
};
TORCH_MODULE(Conv2d);

class GroupNormImpl : public torch::nn::Module {
 public:
  GroupNormImpl(int64_t num_groups, int64_t num_channels, double eps,
                const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;

 private:
  int64_t num_groups_;
  double eps_;
};
TORCH_MODULE(GroupNorm);

// GroupNorm of a channels-last (NHWC in memory) activation that keeps it
// channels-last: the groups are a free view of the NHWC memory, statistics in
// fp32, the result in `weight`'s dtype. ATen's CUDA group_norm converts its
// input to NCHW and returns NCHW, so between two channels-last convolutions it
// would cost two layout copies; GroupNormImpl takes this path on GPUs.
torch::Tensor GroupNormChannelsLast(const torch::Tensor& x, int64_t num_groups, const torch::Tensor& weight,
                                    const torch::Tensor& bias, double eps);
bool IsChannelsLast(const torch::Tensor& x);

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;

 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

// A parameter-free placeholder that keeps diffusers' list indices (e.g. the
// Dropout at ff.net.1, so that the output projection is named ff.net.2).
class PlaceholderImpl : public torch::nn::Module {};
TORCH_MODULE(Placeholder);

// Fills every parameter deterministically for benchmarks and shape tests:
// norm weights 1, biases 0, other weights N(0, 0.02). Not a training init.
void InitializeRandomWeights(torch::nn::Module& module, uint64_t seed);

}  // namespace align::models
