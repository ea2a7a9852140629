#pragma once
// diffusers' AutoencoderKL (the SDXL VAE): Encoder (DownEncoderBlock2D stages,
// a UNetMidBlock2D with one single-head self-attention, 2 * latent_channels
// moments), quant_conv / post_quant_conv (1x1), and Decoder (UpDecoderBlock2D
// stages with layers_per_block + 1 resnets each). No time embedding anywhere;
// every GroupNorm has eps 1e-6. Submodules carry diffusers' names, so
// named_parameters() are the weight files' keys.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/diffusers/vae_config.h"
#include "worker/models/layers.h"
#include "worker/models/resnet.h"

namespace align::models {

// diffusers' Attention as the VAE's mid block builds it (heads = 1, biases on
// to_q/to_k/to_v, group_norm on the input, residual connection,
// rescale_output_factor 1), over the H*W positions of a [B, C, H, W] map.
class VaeAttentionImpl : public torch::nn::Module {
 public:
  VaeAttentionImpl(int64_t channels, int64_t groups, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  GroupNorm group_norm{nullptr};
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(VaeAttention);

// UNetMidBlock2D without time embedding: resnet, [attention], resnet.
class VaeMidBlockImpl : public torch::nn::Module {
 public:
  VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention,
                  const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x);

 private:
  ResnetBlock2D resnet_in{nullptr}, resnet_out{nullptr};
  VaeAttention attention{nullptr};
};
TORCH_MODULE(VaeMidBlock);

// DownEncoderBlock2D: `layers` resnets, then an optional stride-2 downsample
// (right/bottom zero padding by one, as diffusers' padding=0 Downsample2D).
class DownEncoderBlock2DImpl : public torch::nn::Module {
 public:
  DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups,
                         bool add_downsample, const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x);

 private:
  std::vector<ResnetBlock2D> resnets_;
  Downsample2D downsample_{nullptr};
};
TORCH_MODULE(DownEncoderBlock2D);

// UpDecoderBlock2D: `layers` resnets, then an optional nearest-2x upsample + conv.
class UpDecoderBlock2DImpl : public torch::nn::Module {
 public:
  UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups,
                       bool add_upsample, const torch::TensorOptions& options);
  torch::Tensor forward(torch::Tensor x);

 private:
  std::vector<ResnetBlock2D> resnets_;
  Upsample2D upsample_{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

class VaeEncoderImpl : public torch::nn::Module {
 public:
  VaeEncoderImpl(const diffusers::VaeConfig& config, const torch::TensorOptions& options);
  // [B, in_channels, H, W] -> [B, 2 * latent_channels, h, w] (before quant_conv).
  torch::Tensor forward(const torch::Tensor& image);

 private:
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<DownEncoderBlock2D> down_blocks_;
  VaeMidBlock mid_block{nullptr};
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

class VaeDecoderImpl : public torch::nn::Module {
 public:
  VaeDecoderImpl(const diffusers::VaeConfig& config, const torch::TensorOptions& options);
  // [B, latent_channels, h, w] (after post_quant_conv) -> [B, out_channels, H, W].
  torch::Tensor forward(const torch::Tensor& latent);

 private:
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  VaeMidBlock mid_block{nullptr};
  std::vector<UpDecoderBlock2D> up_blocks_;
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

// The diagonal Gaussian posterior of encode(image).latent_dist.
struct LatentDistribution {
  torch::Tensor mean;    // [B, latent_channels, h, w]
  torch::Tensor logvar;  // same shape, clamped to [-30, 20]
  torch::Tensor stddev() const { return torch::exp(0.5 * logvar); }  // diffusers: .std
  torch::Tensor mode() const { return mean; }
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  AutoencoderKLImpl(const diffusers::VaeConfig& config, const torch::TensorOptions& options);

  // Image in [-1, 1], [B, in_channels, H, W]. Each downsample halves a side,
  // rounding down, so the latent is floor(H / 2^(blocks-1)) x floor(W / ...)
  // (H / 8 for SDXL); sides must be at least 2^(blocks-1). The latents are NOT
  // multiplied by scaling_factor.
  LatentDistribution Encode(const torch::Tensor& image);
  // Latent [B, latent_channels, h, w] (already divided by scaling_factor) ->
  // image [B, out_channels, h * 2^(blocks-1), w * 2^(blocks-1)].
  torch::Tensor Decode(const torch::Tensor& latent);

  double scaling_factor() const { return config_.scaling_factor; }
  const diffusers::VaeConfig& config() const { return config_; }

 private:
  diffusers::VaeConfig config_;
  VaeEncoder encoder{nullptr};
  VaeDecoder decoder{nullptr};
  Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
};
TORCH_MODULE(AutoencoderKL);

// Builds the VAE that `vae_dir/config.json` describes with parameters of
// `options` and loads diffusion_pytorch_model.safetensors (or its sharded index).
absl::StatusOr<AutoencoderKL> LoadAutoencoderKL(const std::string& vae_dir,
                                                const torch::TensorOptions& options);

// Writes config.json and the weights (converted to `on_disk`) in diffusers' layout.
absl::Status SaveAutoencoderKL(AutoencoderKL& vae, const std::string& vae_dir, torch::Dtype on_disk,
                               uint64_t max_shard_bytes = 10ull << 30);

}  // namespace align::models
