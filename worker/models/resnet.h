#pragma once
// diffusers' ResnetBlock2D, Downsample2D and Upsample2D (the SDXL variants:
// SiLU, time embedding added after conv1, stride-2 conv down, nearest-2x up).

#include <cstdint>
#include <optional>

#include "worker/models/layers.h"

namespace align::models {

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  // temb_channels <= 0: no time embedding (diffusers' temb_channels=None, as in
  // the VAE): no time_emb_proj is registered and forward takes an undefined temb.
  ResnetBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t temb_channels,
                    int64_t groups, double eps, double output_scale_factor,
                    const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb);

 private:
  GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  Linear time_emb_proj{nullptr};
  double output_scale_factor_;
};
TORCH_MODULE(ResnetBlock2D);

class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(int64_t channels, int64_t padding, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv2d conv{nullptr};
  int64_t padding_;
};
TORCH_MODULE(Downsample2D);

class Upsample2DImpl : public torch::nn::Module {
 public:
  Upsample2DImpl(int64_t channels, const torch::TensorOptions& options);
  // Nearest-neighbour upsampling to `size` (twice the input when the latent
  // is divisible by the UNet's total stride), then a 3x3 conv.
  torch::Tensor forward(const torch::Tensor& x, c10::IntArrayRef size);

 private:
  Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

}  // namespace align::models
