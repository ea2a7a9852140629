#include "worker/models/layers.h"

#include <string>

#include <torch/torch.h>

#include "worker/models/flop_counter.h"

namespace align::models {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                       const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}, options));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  CountFlops(2.0 * static_cast<double>(x.numel() / x.size(-1)) * static_cast<double>(weight.numel()));
  torch::Tensor y = torch::linear(x, weight, bias);
  if (adapter && adapter->active()) y = y + adapter->forward(x);
  return y;
}

Conv2dImpl::Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                       int64_t stride, int64_t padding, const torch::TensorOptions& options)
    : stride_(stride), padding_(padding) {
  weight = register_parameter(
      "weight", torch::empty({out_channels, in_channels, kernel_size, kernel_size}, options));
  bias = register_parameter("bias", torch::empty({out_channels}, options));
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::conv2d(x, weight, bias, stride_, padding_);
  // Each output element is one dot product over in_channels x k x k.
  CountFlops(2.0 * static_cast<double>(y.numel()) * static_cast<double>(weight.numel() / weight.size(0)));
  if (adapter && adapter->active()) y = y + adapter->forward(x);
  return y;
}

GroupNormImpl::GroupNormImpl(int64_t num_groups, int64_t num_channels, double eps,
                             const torch::TensorOptions& options)
    : num_groups_(num_groups), eps_(eps) {
  weight = register_parameter("weight", torch::empty({num_channels}, options));
  bias = register_parameter("bias", torch::empty({num_channels}, options));
}

// Normalisation runs in the parameters' precision: under bf16 autocast the
// activations arrive in bf16 while the fp32 master weights stay fp32. CUDA
// autocast already runs norms in fp32; LibTorch 1.x's CPU autocast does not
// cast them and would fail on the mixed dtypes.
torch::Tensor GroupNormImpl::forward(const torch::Tensor& x) {
  // The CPU kernel keeps channels-last itself.
  if (!x.is_cpu() && IsChannelsLast(x)) return GroupNormChannelsLast(x, num_groups_, weight, bias, eps_);
  return torch::group_norm(x.to(weight.scalar_type()), num_groups_, weight, bias, eps_);
}

bool IsChannelsLast(const torch::Tensor& x) {
  return x.dim() == 4 && x.suggest_memory_format() == torch::MemoryFormat::ChannelsLast;
}

torch::Tensor GroupNormChannelsLast(const torch::Tensor& x, int64_t num_groups, const torch::Tensor& weight,
                                    const torch::Tensor& bias, double eps) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) % num_groups == 0, "GroupNormChannelsLast: ", x.size(1),
              " channels do not split into ", num_groups, " groups");
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // [B, H, W, C] is the memory order: a view, no copy, for NHWC input.
  torch::Tensor nhwc = x.permute({0, 2, 3, 1});
  torch::Tensor grouped = nhwc.reshape({b, h * w, num_groups, c / num_groups}).to(torch::kFloat);
  auto [var, mean] = torch::var_mean(grouped, {1, 3}, /*correction=*/0, /*keepdim=*/true);
  torch::Tensor y = ((grouped - mean) * torch::rsqrt(var + eps)).reshape({b, h, w, c});
  y = torch::addcmul(bias.to(torch::kFloat), y, weight.to(torch::kFloat));
  return y.to(weight.scalar_type()).permute({0, 3, 1, 2});
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options)
    : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", torch::empty({dim}, options));
  bias = register_parameter("bias", torch::empty({dim}, options));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x.to(weight.scalar_type()), {dim_}, weight, bias, eps_);
}

void InitializeRandomWeights(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    torch::Tensor& p = item.value();
    const std::string& name = item.key();
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_bias) {
      p.zero_();
    } else if (is_norm) {
      p.fill_(1.0);
    } else if (p.device().is_cpu()) {
      p.normal_(0.0, 0.02, generator);
    } else {
      p.normal_(0.0, 0.02);
    }
  }
}

}  // namespace align::models
