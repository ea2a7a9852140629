#include "worker/models/resnet.h"

#include <cstdint>

#include <torch/torch.h>

namespace align::models {

ResnetBlock2DImpl::ResnetBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                     int64_t temb_channels, int64_t groups, double eps,
                                     double output_scale_factor,
                                     const torch::TensorOptions& options)
    : output_scale_factor_(output_scale_factor) {
  norm1 = register_module("norm1", GroupNorm(groups, in_channels, eps, options));
  conv1 = register_module("conv1", Conv2d(in_channels, out_channels, 3, 1, 1, options));
  if (temb_channels > 0) {
    time_emb_proj = register_module("time_emb_proj", Linear(temb_channels, out_channels, true, options));
  }
  norm2 = register_module("norm2", GroupNorm(groups, out_channels, eps, options));
  conv2 = register_module("conv2", Conv2d(out_channels, out_channels, 3, 1, 1, options));
  if (in_channels != out_channels) {
    conv_shortcut = register_module("conv_shortcut", Conv2d(in_channels, out_channels, 1, 1, 0, options));
  }
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  torch::Tensor h = conv1(torch::silu(norm1(x)));
  if (time_emb_proj) {
    h = h + time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  } else {
    TORCH_CHECK(!temb.defined(), "ResnetBlock2D without a time embedding was given one");
  }
  h = conv2(torch::silu(norm2(h)));
  torch::Tensor shortcut = conv_shortcut ? conv_shortcut(x) : x;
  torch::Tensor out = shortcut + h;
  return output_scale_factor_ == 1.0 ? out : out / output_scale_factor_;
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t padding,
                                   const torch::TensorOptions& options)
    : padding_(padding) {
  conv = register_module("conv", Conv2d(channels, channels, 3, 2, padding, options));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding_ == 0) {
    // diffusers pads right and bottom by one when the conv itself has no padding.
    return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  }
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, const torch::TensorOptions& options) {
  conv = register_module("conv", Conv2d(channels, channels, 3, 1, 1, options));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x, c10::IntArrayRef size) {
  // Older CPU kernels lack bf16 nearest upsampling; the values are copied
  // unchanged, so a round trip through fp32 is exact.
  const bool via_fp32 = x.scalar_type() == torch::kBFloat16;
  torch::Tensor in = via_fp32 ? x.to(torch::kFloat) : x;
  torch::Tensor up = torch::upsample_nearest2d(in.contiguous(in.suggest_memory_format()), size);
  if (via_fp32) up = up.to(x.scalar_type());
  return conv(up);
}

}  // namespace align::models
